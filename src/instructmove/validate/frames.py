"""Decode both frames of every pair and measure how much they differ.

Adds `source_frame` and `target_frame` (the text `ok`, or what is wrong with the file) and
`pixel_diff`, the mean absolute difference of the two RGB frames in 0..255 units (null when a
frame could not be read at its recorded size).
"""

import logging
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


def add_frame_columns(table: pd.DataFrame, root: Path | str = ".") -> pd.DataFrame:
    """Check every pair's frame files; see the module docstring for the added columns."""
    root = Path(root)
    table = table.copy()
    source_status, target_status, differences = [], [], []
    columns = ("source_path", "target_path", "width", "height")
    rows = table.reindex(columns=list(columns)).itertuples(index=False)

    for source_path, target_path, width, height in tqdm(rows, total=len(table), desc="decode frames",
                                                        disable=len(table) < 200):
        source_state, source = read_frame(source_path, width, height, root)
        target_state, target = read_frame(target_path, width, height, root)
        source_status.append(source_state)
        target_status.append(target_state)
        both_read = source is not None and target is not None
        differences.append(pixel_difference(source, target) if both_read else None)

    table["source_frame"] = pd.Series(source_status, index=table.index, dtype=object)
    table["target_frame"] = pd.Series(target_status, index=table.index, dtype=object)
    table["pixel_diff"] = pd.Series(differences, index=table.index, dtype="float64")
    return table
