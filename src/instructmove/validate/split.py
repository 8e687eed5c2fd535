"""Split accepted triplets into train and evaluation sets by video.

Every pair of one video lands in the same split, so the evaluation frames come from videos the
model never saw. Videos are ordered by a seeded hash of their id, so the split depends on the
set of videos and the seed, not on the order of the rows. The evaluation split gets round(eval_fraction * videos) videos,
clamped so that train keeps at least one video and, with two or more videos, evaluation gets
at least one. With a single video, every pair goes to train and the evaluation split is empty.
"""

import hashlib

import pandas as pd

TRAIN = "train"
EVAL = "eval"


def eval_video_count(num_videos: int, eval_fraction: float) -> int:
    if num_videos < 2:
        return 0
    return min(max(round(eval_fraction * num_videos), 1), num_videos - 1)


def _video_order_key(video_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{video_id}".encode()).hexdigest()


def eval_videos(video_ids: list[str], eval_fraction: float, seed: int) -> set[str]:
    """Choose the evaluation videos among the distinct `video_ids`."""
    unique = sorted(set(video_ids))
    ordered = sorted(unique, key=lambda video_id: _video_order_key(video_id, seed))
    return set(ordered[:eval_video_count(len(unique), eval_fraction)])


def assign_split(table: pd.DataFrame, eval_fraction: float, seed: int) -> pd.DataFrame:
    """Return a copy of `table` with a `split` column of `train` or `eval`."""
    table = table.copy()
    held_out = eval_videos(table["video_id"].astype(str).tolist(), eval_fraction, seed)
    in_eval = table["video_id"].astype(str).isin(held_out)
    table["split"] = pd.Series(TRAIN, index=table.index, dtype=object).where(~in_eval, EVAL)
    return table
