"""Small synthetic triplet tables for the model tests: a coloured square that moves left or right."""

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from instructmove.config import parse_params


def square_frame(size: int, x: int, y: int, colour: tuple[int, int, int], side: int) -> Image.Image:
    array = np.full((size, size, 3), 40, dtype=np.uint8)
    array[y : y + side, x : x + side] = colour
    return Image.fromarray(array)


def write_dataset(root: Path, count: int = 12, size: int = 40, seed: int = 0) -> None:
    """Write data/dataset/{train,eval}.parquet and JPEG frames under `root`."""
    rng = np.random.default_rng(seed)
    frames = root / "data" / "pairs" / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        side = size // 4
        x = int(rng.integers(side, size - 2 * side))
        y = int(rng.integers(0, size - side))
        shift = side if index % 2 else -side
        colour = tuple(int(value) for value in rng.integers(80, 255, 3))
        source = frames / f"p{index}_source.jpg"
        target = frames / f"p{index}_target.jpg"
        square_frame(size, x, y, colour, side).save(source, quality=95)
        square_frame(size, x + shift, y, colour, side).save(target, quality=95)
        direction = "right" if shift > 0 else "left"
        rows.append({
            "pair_id": f"p{index}",
            "video_id": f"v{index % 4}",
            "source_path": str(source.relative_to(root)),
            "target_path": str(target.relative_to(root)),
            "instruction": f"Move the square to the {direction}",
        })
    table = pd.DataFrame(rows)
    dataset = root / "data" / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    table[table.video_id != "v3"].assign(split="train").to_parquet(dataset / "train.parquet")
    table[table.video_id == "v3"].assign(split="eval").to_parquet(dataset / "eval.parquet")


def tiny_params(root: Path, model: dict | None = None, train: dict | None = None):
    """Params for a few-step run with an MLflow store inside `root`."""
    raw = {
        "model": {"preset": "tiny-pixel", "conditioning": "spatial", "resolution": 16,
                  "tiny_channels": [16, 32], "tiny_text_dim": 16, **(model or {})},
        "train": {"max_steps": 4, "batch_size": 2, "lr": 1e-3, "lr_warmup_steps": 1,
                  "checkpoint_every_n_steps": 2, "log_every_n_steps": 1, "sample_every_n_steps": 0,
                  "num_sample_images": 2, "sample_inference_steps": 2, **(train or {})},
        "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_dir": str(root / "mlruns"),
                     "experiment": "test"},
    }
    return parse_params(raw)
