"""Small real triplet tables for the validate tests: JPEG frames on disk and contract columns."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from instructmove import layout

WIDTH, HEIGHT = 64, 48


def draw_frame(offset: int, seed: int = 0) -> Image.Image:
    """A gradient background with a bright square shifted `offset` pixels to the right."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([x * 3, y * 4, np.full_like(x, 60 + seed * 20)], axis=-1) % 256
    base = base.astype(np.uint8)
    noise = rng.integers(0, 8, size=base.shape, dtype=np.uint8)
    frame = base + noise
    left = 8 + offset
    frame[16:32, left:left + 16] = (250, 240, 30)
    return Image.fromarray(frame)


def write_pair(root: Path, pair_id: str, offset: int, seed: int = 0) -> tuple[str, str]:
    """Write the source and target frames of one pair; return their paths relative to `root`."""
    folder = root / layout.FRAMES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    source = layout.FRAMES_DIR / f"{pair_id}_source.jpg"
    target = layout.FRAMES_DIR / f"{pair_id}_target.jpg"
    draw_frame(0, seed).save(root / source, quality=95)
    draw_frame(offset, seed).save(root / target, quality=95)
    return str(source), str(target)


def triplet_row(root: Path, pair_id: str, video_id: str, t_source: float = 0.0, offset: int = 12,
                instruction: str = "Move the yellow square to the right", **overrides) -> dict:
    """One triplet with every contract column, its frames written under `root`."""
    source_path, target_path = write_pair(root, pair_id, offset, seed=len(video_id) % 3)
    row = {
        "pair_id": pair_id, "video_id": video_id, "t_source": t_source, "t_target": t_source + 1.0,
        "source_path": source_path, "target_path": target_path, "width": WIDTH, "height": HEIGHT,
        "flow_mean": 4.0, "flow_median": 3.0, "flow_p95": 10.0, "moving_fraction": 0.1,
        "camera_tx": 0.5, "camera_ty": -0.2, "camera_zoom": 0.0, "camera_rotation": 0.0,
        "subject_dx": float(offset), "subject_dy": 0.0, "subject_cx": 0.4, "subject_cy": 0.5,
        "background_error": 2.0,
        "instruction": instruction, "edit_type": "object motion", "subject": "yellow square",
        "caption_before": "a yellow square on the left", "caption_after": "a yellow square in the middle",
        "backend": "flow", "model": "flow", "prompt_version": "v1", "prompt_hash": "abc",
        "status": "ok", "decline_reason": None, "error": None, "raw_response": None,
        "prompt_tokens": 0, "completion_tokens": 0,
    }
    row.update(overrides)
    return row


def good_rows(root: Path, videos: int = 3, pairs_per_video: int = 2) -> list[dict]:
    rows = []
    for video in range(videos):
        for index in range(pairs_per_video):
            video_id = f"video{video:02d}"
            rows.append(triplet_row(
                root, f"{video_id}_{index}", video_id, t_source=float(index), offset=6 + 2 * index,
                instruction=f"Move the yellow square {6 + 2 * index} pixels to the right",
            ))
    return rows


def write_triplets(root: Path, rows: list[dict]) -> Path:
    path = root / layout.TRIPLETS_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def write_pairs_outputs(root: Path, rows: list[dict]) -> None:
    """Write the pairs table and a mining funnel, as the pairs stage would, for the notebook."""
    pair_columns = [column for column in rows[0] if column not in (
        "instruction", "edit_type", "subject", "caption_before", "caption_after", "backend", "model",
        "prompt_version", "prompt_hash", "status", "decline_reason", "error", "raw_response",
        "prompt_tokens", "completion_tokens",
    )]
    pd.DataFrame(rows)[pair_columns].to_parquet(root / layout.PAIRS_TABLE, index=False)
    funnel = {"candidates": len(rows) * 3, "rejected": {"low_flow": len(rows), "scene_cut": len(rows) - 1},
              "kept": len(rows) + 1}
    (root / layout.METRICS).mkdir(parents=True, exist_ok=True)
    (root / layout.metrics_file("pairs")).write_text(json.dumps(funnel))
