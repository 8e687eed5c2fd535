"""Build small pairs tables with real JPEG frames, laid out as the pairs stage writes them."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from instructmove import layout
from instructmove.config import parse_params

# MLflow store used when a test passes none; creating a store's tables takes seconds, so a test
# module may point this at one store for all its tests (with monkeypatch.setattr).
DEFAULT_STORE: Path | None = None


def write_frame(path: Path, index: int, side: int = 48) -> None:
    """Write a small JPEG whose pattern differs per index, so every frame has distinct bytes."""
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)


def pair_row(index: int, **stats) -> dict:
    """Return one pairs-table row; motion statistics default to a small rightward subject motion."""
    pair_id = f"vid{index % 3:02d}_{index:05d}"
    row = {
        "pair_id": pair_id,
        "video_id": f"vid{index % 3:02d}",
        "t_source": float(index),
        "t_target": float(index) + 1.0,
        "source_path": str(layout.FRAMES_DIR / f"{pair_id}_source.jpg"),
        "target_path": str(layout.FRAMES_DIR / f"{pair_id}_target.jpg"),
        "width": 48,
        "height": 48,
        "flow_mean": 3.0,
        "flow_median": 2.5,
        "flow_p95": 8.0,
        "moving_fraction": 0.2,
        "camera_tx": 0.0,
        "camera_ty": 0.0,
        "camera_zoom": 0.0,
        "camera_rotation": 0.0,
        "subject_dx": 4.0,
        "subject_dy": 0.0,
        "subject_cx": 0.5,
        "subject_cy": 0.5,
        "background_error": 0.01,
    }
    row.update(stats)
    return row


def write_pairs(root: Path, rows: list[dict], frames: bool = True) -> pd.DataFrame:
    """Write data/pairs/pairs.parquet under root and, unless frames is False, both frames of each pair."""
    table = pd.DataFrame(rows)
    path = root / layout.PAIRS_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)

    if frames:
        for number, row in enumerate(rows):
            write_frame(root / row["source_path"], 2 * number)
            write_frame(root / row["target_path"], 2 * number + 1)
    return table


def make_pairs(root: Path, count: int) -> pd.DataFrame:
    """Write `count` pairs with varied subject motion and their frames."""
    rows = []
    for index in range(count):
        angle = 2 * math.pi * index / max(count, 1)
        rows.append(pair_row(index, subject_dx=5 * math.cos(angle), subject_dy=5 * math.sin(angle)))
    return write_pairs(root, rows)


def make_params(root: Path, store: Path | None = None, **instruct):
    """Return Params with the given instruct settings and an MLflow store under `store`.

    Without `store`, the store is DEFAULT_STORE when set, else root.
    """
    store = store or DEFAULT_STORE or root
    raw = {
        "instruct": instruct,
        "tracking": {"uri": f"sqlite:///{store / 'mlflow.db'}", "artifact_dir": str(store / "mlruns")},
    }
    return parse_params(raw)


def openai_params(root: Path, base_url: str, store: Path | None = None, **overrides):
    """Return Params for the openai backend with short retry delays and a cache under root."""
    instruct = {
        "backend": "openai",
        "base_url": base_url,
        "model": "gpt-4o",
        "max_in_flight": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.1,
        "timeout_s": 10.0,
        "cache_dir": str(root / ".cache" / "instruct"),
    }
    instruct.update(overrides)
    return make_params(root, store, **instruct)


def pair_fingerprint(root: Path, row: dict, settings) -> str:
    """Return the fingerprint the fake server computes for a pair's request."""
    from helpers_fake_openai import fingerprint
    from instructmove.instruct.images import frame_data_url

    source = frame_data_url(root / row["source_path"], settings.max_image_side, settings.jpeg_quality)
    target = frame_data_url(root / row["target_path"], settings.max_image_side, settings.jpeg_quality)
    return fingerprint(source, target)
