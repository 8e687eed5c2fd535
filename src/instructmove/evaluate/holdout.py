"""Check that no benchmark example comes from a video the model was trained on."""

import logging
from pathlib import Path

import pandas as pd

from instructmove.errors import StageError
from instructmove.evaluate.benchmark import BenchmarkExample

log = logging.getLogger(__name__)


def check_held_out(examples: list[BenchmarkExample], train_table: Path) -> bool | None:
    """Return True when the benchmark's videos are disjoint from the training table's.

    Returns None when it cannot be checked: the rows carry no `video_id` (a user's own
    benchmark) or the training table does not exist. Raises StageError on overlap, because
    scores on training videos would overstate the model.
    """
    video_ids = {example.video_id for example in examples if example.video_id}
    if not video_ids or not Path(train_table).is_file():
        log.info("held-out check skipped: %s", "no video_id in the benchmark" if not video_ids else f"{train_table} not found")
        return None

    trained = set(pd.read_parquet(train_table, columns=["video_id"])["video_id"])
    shared = sorted(video_ids & trained)
    if shared:
        raise StageError(
            f"{len(shared)} benchmark video(s) also appear in {train_table} (e.g. {shared[0]}); "
            "evaluation must use held-out videos. Re-run the validate stage or use another benchmark."
        )
    log.info("held-out check passed: none of the %d benchmark video(s) is in %s", len(video_ids), train_table)
    return True
