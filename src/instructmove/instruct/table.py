"""The pairs table the stage reads and the triplets table it writes."""

import math
import os
from pathlib import Path

import pandas as pd

from instructmove.errors import StageError

# Pair columns the stage reads; the rest of the pairs table is carried over unchanged.
REQUIRED_PAIR_COLUMNS = (
    "pair_id", "video_id", "source_path", "target_path",
    "camera_tx", "camera_ty", "camera_zoom", "camera_rotation",
    "subject_dx", "subject_dy", "subject_cx", "subject_cy",
)

# Columns added to every pair, in this order.
RESULT_COLUMNS = (
    "instruction", "edit_type", "subject", "caption_before", "caption_after",
    "backend", "model", "prompt_version", "prompt_hash",
    "status", "decline_reason", "error", "raw_response",
    "prompt_tokens", "completion_tokens",
)

STATUSES = ("ok", "declined", "failed")
EDIT_TYPES = ("pose", "expression", "camera", "object motion", "other")


def read_pairs(path: Path) -> pd.DataFrame:
    """Read the pairs table and check that it has the columns and unique pair ids the stage needs."""
    if not path.is_file():
        raise StageError(f"{path}: pairs table not found. Run the pairs stage first (`instructmove pairs`).")

    pairs = pd.read_parquet(path)
    missing = [column for column in REQUIRED_PAIR_COLUMNS if column not in pairs.columns]
    if missing:
        raise StageError(
            f"{path}: missing column(s) {', '.join(missing)}. Rebuild it with the current pairs stage "
            "(`dvc repro -f -s pairs`)."
        )

    duplicated = pairs["pair_id"][pairs["pair_id"].duplicated()].unique().tolist()
    if duplicated:
        raise StageError(f"{path}: pair_id values are not unique, e.g. {duplicated[:3]}. Rebuild the pairs table.")
    return pairs.reset_index(drop=True)


def empty_result(**values) -> dict:
    """Return one result row with every result column, nulls and zero tokens unless given."""
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(prompt_tokens=0, completion_tokens=0)
    row.update(values)
    return row


def build_triplets(pairs: pd.DataFrame, results: dict[str, dict]) -> pd.DataFrame:
    """Join each pair with its result row, keeping the order of the pairs table."""
    missing = [pair_id for pair_id in pairs["pair_id"] if pair_id not in results]
    if missing:
        raise StageError(f"internal error: no result for {len(missing)} pair(s), e.g. {missing[:3]}")

    rows = [results[pair_id] for pair_id in pairs["pair_id"]]
    added = pd.DataFrame(rows, columns=list(RESULT_COLUMNS), index=pairs.index)
    added["prompt_tokens"] = added["prompt_tokens"].fillna(0).astype("int64")
    added["completion_tokens"] = added["completion_tokens"].fillna(0).astype("int64")
    for column in RESULT_COLUMNS:
        if column not in ("prompt_tokens", "completion_tokens"):
            added[column] = added[column].astype("str")

    carried = pairs.drop(columns=[column for column in RESULT_COLUMNS if column in pairs.columns])
    return pd.concat([carried, added], axis=1)


def write_triplets(triplets: pd.DataFrame, path: Path) -> None:
    """Write the table through a temporary file, so a killed run never leaves half a Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    triplets.to_parquet(partial, index=False)
    os.replace(partial, path)


def number(value) -> float:
    """Return a float, with null and NaN read as 0."""
    if value is None:
        return 0.0
    value = float(value)
    return 0.0 if math.isnan(value) else value
