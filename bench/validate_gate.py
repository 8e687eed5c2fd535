"""Time the validate stage's gate and the ip2p export on a synthetic table of N triplets.

    .venv/bin/python bench/validate_gate.py --pairs 1000 --width 256

Writes JPEG frames of `--width` x 3/4 `--width` pixels and a contract-shaped triplets table into a temporary folder, then
times the frame checks, the two GX suites with Data Docs, and the Parquet export. Prints JSON.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from instructmove import layout
from instructmove.config import parse_params
from instructmove.validate import export, stage


def write_frames(root: Path, pair_id: str, width: int, rng: np.random.Generator) -> tuple[str, str]:
    frame = rng.integers(0, 255, size=(width * 3 // 4, width, 3), dtype=np.uint8)
    moved = np.roll(frame, 6, axis=1)
    source = layout.FRAMES_DIR / f"{pair_id}_source.jpg"
    target = layout.FRAMES_DIR / f"{pair_id}_target.jpg"
    Image.fromarray(frame).save(root / source, quality=90)
    Image.fromarray(moved).save(root / target, quality=90)
    return str(source), str(target)


def synthetic_triplets(root: Path, pairs: int, width: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    (root / layout.FRAMES_DIR).mkdir(parents=True)
    rows = []
    for index in range(pairs):
        video_id = f"video{index // 8:04d}"
        source, target = write_frames(root, f"{video_id}_{index % 8}", width, rng)
        rows.append({
            "pair_id": f"{video_id}_{index % 8}", "video_id": video_id, "t_source": float(index % 8),
            "t_target": float(index % 8) + 1.0, "source_path": source, "target_path": target,
            "width": width, "height": width * 3 // 4, "flow_mean": 5.0, "flow_median": 4.0, "flow_p95": 9.0,
            "camera_tx": 6.0, "camera_ty": 0.0, "camera_zoom": 0.0,
            "instruction": f"Pan the camera {index % 8 + 1} degrees to the left", "caption_before": "a frame",
            "caption_after": "the same scene", "status": "ok", "backend": "flow",
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="number of triplets (default: %(default)s)")
    parser.add_argument("--width", type=int, default=256, help="frame width in pixels (default: %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.chdir(root)
        triplets = synthetic_triplets(root, args.pairs, args.width)
        params = parse_params({})

        start = time.perf_counter()
        result = stage.validate_triplets(triplets, params)
        stage.write_outputs(result)
        gate_seconds = time.perf_counter() - start

        start = time.perf_counter()
        export.run(params, "ip2p", root / "export")
        export_seconds = time.perf_counter() - start

        print(json.dumps({
            "pairs": args.pairs, "frame_width": args.width, "accepted": len(result["train"]) + len(result["eval"]),
            "gate_seconds": round(gate_seconds, 2), "export_ip2p_seconds": round(export_seconds, 2),
        }))


if __name__ == "__main__":
    main()
