"""Split accepted triplets into train and evaluation sets by video.

Every pair of one video lands in the same split, so the evaluation frames come from videos the
model never saw. Each video is decided on its own: a seeded hash of its id, read as a number in
[0, 1), sends it to evaluation when it is below `eval_fraction`. Adding videos therefore never
moves an existing video between splits, which keeps a retrained model's evaluation honest.
Two guards apply on top: with two or more videos, evaluation gets at least one video (the one
with the lowest hash) and train keeps at least one (the one with the highest hash). With a
single video, every pair goes to train and the evaluation split is empty.
"""

import hashlib

import pandas as pd

TRAIN = "train"
EVAL = "eval"


def video_score(video_id: str, seed: int) -> float:
    """Map a video id to a stable number in [0, 1) under the seed."""
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def eval_videos(video_ids: list[str], eval_fraction: float, seed: int) -> set[str]:
    """Choose the evaluation videos among the distinct `video_ids`."""
    unique = sorted(set(video_ids))
    if len(unique) < 2:
        return set()

    ordered = sorted(unique, key=lambda video_id: video_score(video_id, seed))
    held_out = {video_id for video_id in ordered if video_score(video_id, seed) < eval_fraction}

    if not held_out:
        held_out = {ordered[0]}
    if len(held_out) == len(unique):
        held_out.discard(ordered[-1])
    return held_out


def assign_split(table: pd.DataFrame, eval_fraction: float, seed: int) -> pd.DataFrame:
    """Return a copy of `table` with a `split` column of `train` or `eval`."""
    table = table.copy()
    held_out = eval_videos(table["video_id"].astype(str).tolist(), eval_fraction, seed)
    in_eval = table["video_id"].astype(str).isin(held_out)
    table["split"] = pd.Series(TRAIN, index=table.index, dtype=object).where(~in_eval, EVAL)
    return table
