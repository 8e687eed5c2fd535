"""Columns computed from the triplets so that Great Expectations can check them.

GX checks values in one column at a time, so word counts, the opening verb, the rank of a
repeated instruction and the rank of a pair inside its video are added as columns first.
Each function leaves the input untouched and tolerates missing input columns (the schema
check reports those), filling the derived column with nulls.
"""

import re

import pandas as pd

TEXT_COLUMNS = (
    "pair_id", "video_id", "source_path", "target_path", "instruction", "edit_type", "subject",
    "caption_before", "caption_after", "backend", "model", "prompt_version", "prompt_hash", "status",
)

_NON_LETTERS = re.compile(r"[^a-z]")
_PUNCTUATION = re.compile(r"[^\w\s]")


def as_object_text(table: pd.DataFrame) -> pd.DataFrame:
    """Store text columns as Python objects.

    GX 1.24's type expectation does not recognise the `str` dtype of pandas 3, but checks the
    type of each value in an object column.
    """
    table = table.copy()
    for column in TEXT_COLUMNS:
        if column in table.columns:
            table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


def instruction_words(instruction: object) -> int | None:
    if not isinstance(instruction, str):
        return None
    return len(instruction.split())


def instruction_verb(instruction: object) -> str | None:
    """Return the first word, lowercased and stripped of anything but letters."""
    if not isinstance(instruction, str) or not instruction.split():
        return None
    return _NON_LETTERS.sub("", instruction.split()[0].lower())


def normalise_instruction(instruction: object) -> str | None:
    if not isinstance(instruction, str):
        return None
    return " ".join(_PUNCTUATION.sub(" ", instruction.lower()).split())


def add_text_columns(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    instructions = table["instruction"] if "instruction" in table.columns else pd.Series(None, index=table.index)
    table["instruction_words"] = instructions.map(instruction_words).astype("float64")
    table["instruction_verb"] = instructions.map(instruction_verb).astype(object)
    return table


def _rank_within(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Rank each row inside its group of `keys` from 1, in time order, then by pair id."""
    order = [column for column in ("t_source", "pair_id") if column in table.columns]
    ordered = table.sort_values(order, kind="stable") if order else table
    ranks = ordered.groupby(keys, dropna=False, sort=False).cumcount() + 1
    return ranks.reindex(table.index).astype("int64")


def add_rank_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Add the rank of each pair in its video and of each repeated instruction in its video."""
    table = table.copy()
    if table.empty:
        table["video_pair_rank"] = pd.Series(dtype="int64")
        table["instruction_repeat_rank"] = pd.Series(dtype="int64")
        return table

    table["video_pair_rank"] = _rank_within(table, ["video_id"])
    table["_normalised"] = table["instruction"].map(normalise_instruction)
    table["instruction_repeat_rank"] = _rank_within(table, ["video_id", "_normalised"])
    return table.drop(columns="_normalised")


def add_split_count_column(table: pd.DataFrame) -> pd.DataFrame:
    """Add the number of distinct splits each row's video appears in (1 when the split is clean)."""
    table = table.copy()
    table["video_split_count"] = table.groupby("video_id")["split"].transform("nunique").astype("int64")
    return table
