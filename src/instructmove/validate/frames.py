"""Decode both frames of every pair and measure how much they differ.

Adds `source_frame` and `target_frame` (the text `ok`, or what is wrong with the file) and
`pixel_diff`, the mean absolute difference of the two RGB frames in 0..255 units (null when a
frame could not be read at its recorded size).
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

log = logging.getLogger(__name__)

FRAME_OK = "ok"


def read_frame(path: object, width: object, height: object, root: Path) -> tuple[str, np.ndarray | None]:
    """Return (status, RGB array); the status is `ok` or names the problem."""
    if not isinstance(path, str) or not path:
        return "no path recorded", None
    file = root / path
    if not file.is_file():
        return f"file not found: {path}", None
    try:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        return f"cannot decode {path}: {error}", None

    decoded_height, decoded_width = pixels.shape[:2]
    if _as_int(width) != decoded_width or _as_int(height) != decoded_height:
        return f"decoded at {decoded_width}x{decoded_height}, recorded as {width}x{height}", None
    return FRAME_OK, pixels


def _as_int(value: object) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def pixel_difference(source: np.ndarray, target: np.ndarray) -> float:
    return float(np.abs(source.astype(np.int16) - target.astype(np.int16)).mean())


def check_pair(source_path: object, target_path: object, width: object, height: object,
               root: Path) -> tuple[str, str, float | None]:
    """Return the source status, the target status and their pixel difference (None unless both read)."""
    source_state, source = read_frame(source_path, width, height, root)
    target_state, target = read_frame(target_path, width, height, root)
    both_read = source is not None and target is not None
    return source_state, target_state, pixel_difference(source, target) if both_read else None


def add_frame_columns(table: pd.DataFrame, root: Path | str = ".", workers: int | None = None) -> pd.DataFrame:
    """Check every pair's frame files in `workers` threads; see the module docstring for the columns.

    Pillow releases the GIL while it decodes, so threads use several cores. `workers=None` uses
    one thread per CPU.
    """
    root = Path(root)
    table = table.copy()
    rows = list(table.reindex(columns=["source_path", "target_path", "width", "height"]).itertuples(index=False))
    workers = workers or os.cpu_count() or 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = pool.map(lambda row: check_pair(*row, root), rows)
        results = list(tqdm(checks, total=len(rows), desc="decode frames", disable=len(rows) < 200))

    source_status, target_status, differences = zip(*results) if results else ((), (), ())
    table["source_frame"] = pd.Series(source_status, index=table.index, dtype=object)
    table["target_frame"] = pd.Series(target_status, index=table.index, dtype=object)
    table["pixel_diff"] = pd.Series(differences, index=table.index, dtype="float64")
    return table
