"""The `pairs` stage: mine frame pairs with moderate, clean motion from every ingested video.

    instructmove pairs             # or: dvc repro -s pairs

Reads data/videos.parquet and the `pairs` section of params.yaml; writes data/pairs/pairs.parquet,
data/pairs/frames/<pair_id>_source.jpg and _target.jpg, and the funnel in metrics/pairs.json.
Only videos missing from the per-video cache (.cache/pairs) are decoded; a video that left
videos.parquet leaves no pairs behind.
"""

import json
import logging
import os
import shutil
from collections import Counter

import mlflow
import pandas as pd

from instructmove import layout, tracking
from instructmove.errors import StageError
from instructmove.pairs import cache
from instructmove.pairs.executor import run_jobs
from instructmove.pairs.flow import FlowStats
from instructmove.pairs.mine import FILTERS, mine_video
from instructmove.video.isolation import Job

log = logging.getLogger(__name__)

COLUMNS = [
    "pair_id", "video_id", "t_source", "t_target", "source_path", "target_path", "width", "height",
    *FlowStats.__dataclass_fields__,
]
_VIDEO_FIELDS = ["video_id", "path", "width", "height", "num_frames", "fps", "duration_s"]


def read_videos() -> pd.DataFrame:
    """Return the usable videos of data/videos.parquet, or raise StageError when it is missing."""
    if not layout.VIDEOS_TABLE.is_file():
        raise StageError(f"{layout.VIDEOS_TABLE} not found. Run `instructmove ingest` (or `dvc repro -s ingest`) first.")
    videos = pd.read_parquet(layout.VIDEOS_TABLE)
    return videos[videos["status"] == "ok"].sort_values("path").reset_index(drop=True)


def _timeout(video: dict, settings) -> float:
    return settings.timeout_s + settings.timeout_per_video_minute_s * float(video["duration_s"]) / 60.0


def mine_all(videos: pd.DataFrame, settings, mine=mine_video) -> tuple[dict, dict, list[dict]]:
    """Mine or load every video; return (results by video id, failures by video id, fresh results)."""
    mining_values = settings.mining_values()
    key = cache.settings_key(mining_values)
    results, failures, jobs = {}, {}, []

    for video in videos[_VIDEO_FIELDS].to_dict("records"):
        video = {name: (value.item() if hasattr(value, "item") else value) for name, value in video.items()}
        cached = cache.load(video["video_id"], key)
        if cached is not None:
            results[video["video_id"]] = cached
        else:
            jobs.append(Job(video["video_id"], (video, mining_values), _timeout(video, settings), video["path"]))

    fresh = []
    for outcome in run_jobs(mine, jobs, settings):
        if outcome.ok:
            results[outcome.key] = cache.store(outcome.value, key)
            fresh.append(results[outcome.key])
        else:
            failures[outcome.key] = (outcome.reason, outcome.message)
    return results, failures, fresh


def write_pairs(videos: pd.DataFrame, results: dict, settings_key: str) -> pd.DataFrame:
    """Rebuild data/pairs from the cached results of the current videos; return the pairs table."""
    shutil.rmtree(layout.FRAMES_DIR, ignore_errors=True)
    layout.FRAMES_DIR.mkdir(parents=True)
    rows = []
    for video_id in videos["video_id"]:
        result = results.get(video_id)
        if result is None:
            continue
        for name in result["frame_files"]:
            shutil.copyfile(cache.frame_file(video_id, settings_key, name), layout.FRAMES_DIR / name)
        for row in result["rows"]:
            source = layout.FRAMES_DIR / f"{row['pair_id']}_source.jpg"
            target = layout.FRAMES_DIR / f"{row['pair_id']}_target.jpg"
            rows.append({**row, "source_path": source.as_posix(), "target_path": target.as_posix()})

    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_parquet(layout.PAIRS_TABLE, index=False)
    return table


def funnel(videos: pd.DataFrame, results: dict, failures: dict, fresh: list[dict]) -> dict:
    """Return metrics/pairs.json: videos, the candidate funnel, and how much was decoded in this run."""
    rejects = Counter()
    for result in results.values():
        rejects.update(result["rejects"])
    return {
        "videos": len(videos),
        "videos_mined": len(fresh) + len(failures),
        "videos_from_cache": len(results) - len(fresh),
        "videos_failed": dict(Counter(reason for reason, _ in failures.values())),
        "decoded_frames": sum(result["decoded_frames"] for result in fresh),
        "candidates": sum(result["candidates"] for result in results.values()),
        "rejects": {name: rejects.get(name, 0) for name in FILTERS},
        "pairs": sum(result["pairs"] for result in results.values()),
    }


def _per_video(videos: pd.DataFrame, results: dict, failures: dict) -> pd.DataFrame:
    rows = []
    for video in videos.itertuples():
        result = results.get(video.video_id)
        reason, message = failures.get(video.video_id, (None, None))
        row = {"video_id": video.video_id, "path": video.path, "failure": reason, "message": message}
        if result is not None:
            row.update({"candidates": result["candidates"], "pairs": result["pairs"], **result["rejects"]})
        rows.append(row)
    return pd.DataFrame(rows)


def _log_timings(fresh: list[dict]) -> None:
    seconds = Counter()
    for result in fresh:
        seconds.update(result["seconds"])
    if seconds:
        mlflow.log_metrics({f"seconds_{step}": value for step, value in seconds.items()})


def run(params, mine=mine_video) -> pd.DataFrame:
    """Run the pairs stage; `mine` is the function run for each video in an isolated worker."""
    settings = params.pairs
    with tracking.stage_run("pairs", params):
        videos = read_videos()
        results, failures, fresh = mine_all(videos, settings, mine)
        table = write_pairs(videos, results, cache.settings_key(settings.mining_values()))
        metrics = funnel(videos, results, failures, fresh)

        metrics_file = layout.metrics_file("pairs")
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")

        # Inside a flow run the flow logs the metrics file; a standalone run logs it here.
        if not os.environ.get(tracking.RUN_ID_ENV):
            mlflow.log_metrics(tracking.numeric_metrics(metrics))
        per_video = _per_video(videos, results, failures)
        mlflow.log_table(per_video, artifact_file="pairs/funnel_per_video.json")
        _log_timings(fresh)
        for video_id, (reason, message) in failures.items():
            log.warning("no pairs from video %s: %s (%s)", video_id, reason, message)
        log.info("pairs: %d candidates from %d videos, %d pairs kept (%d videos decoded, %d from cache)",
                 metrics["candidates"], metrics["videos"], metrics["pairs"],
                 metrics["videos_mined"], metrics["videos_from_cache"])
    return table
