"""The `ingest` stage: probe every video file; record a content-hash id, probe facts or a reject reason.

    instructmove ingest            # or: dvc repro -s ingest

Reads the files under `ingest.videos_dir`; writes data/videos.parquet and metrics/ingest.json.
Each file is probed in an isolated child process, so a decoder crash or hang rejects that file
and the run goes on. Probe results are cached by content hash under .cache/ingest.
"""

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import mlflow
import pandas as pd

from instructmove import layout, tracking
from instructmove.errors import StageError
from instructmove.video.files import content_hash, display_path, scan
from instructmove.video.isolation import Job, Outcome, run_isolated
from instructmove.video.probe import check_facts, probe_video

log = logging.getLogger(__name__)

# Bump when probe_video changes what it returns, so cached probes are redone.
PROBE_VERSION = 2

REJECT_REASONS = (
    "unreadable", "no video stream", "too short", "too small", "corrupt frames",
    "decode timeout", "decoder crash", "duplicate",
)
FACT_COLUMNS = ["fps", "num_frames", "header_num_frames", "width", "height", "duration_s", "rotation"]
COLUMNS = ["video_id", "path", "status", "reject_reason", "reject_message", *FACT_COLUMNS, "size_bytes"]


def _cache_file(video_id: str, check_frames: int) -> Path:
    key = hashlib.sha256(json.dumps([PROBE_VERSION, check_frames]).encode()).hexdigest()[:8]
    return layout.INGEST_CACHE / f"{video_id}-{key}.json"


def _read_cache(video_id: str, check_frames: int) -> Outcome | None:
    file = _cache_file(video_id, check_frames)
    if not file.is_file():
        return None
    entry = json.loads(file.read_text())
    return Outcome(video_id, value=entry.get("facts"), reason=entry.get("reason"), message=entry.get("message"))


def _write_cache(outcome: Outcome, check_frames: int) -> None:
    # A timeout or crash may not repeat on the next run, so only decoder verdicts are cached.
    if outcome.reason in ("decode timeout", "decoder crash"):
        return
    file = _cache_file(outcome.key, check_frames)
    file.parent.mkdir(parents=True, exist_ok=True)
    entry = {"facts": outcome.value, "reason": outcome.reason, "message": outcome.message}
    temporary = file.with_suffix(".tmp")
    temporary.write_text(json.dumps(entry))
    temporary.replace(file)


def _probe_all(paths: dict[str, Path], settings, probe: Callable) -> tuple[dict[str, Outcome], int]:
    """Probe each video id once; return the outcomes and how many were decoded in this run."""
    outcomes = {}
    jobs = []
    for video_id, path in paths.items():
        cached = _read_cache(video_id, settings.check_frames)
        if cached is not None:
            outcomes[video_id] = cached
        else:
            jobs.append(Job(video_id, (str(path), settings.check_frames), settings.timeout_s, display_path(path)))

    for outcome in run_isolated(probe, jobs, settings.workers, desc="probing videos"):
        _write_cache(outcome, settings.check_frames)
        outcomes[outcome.key] = outcome
    return outcomes, len(jobs)


def _row(video_id: str, path: Path, outcome: Outcome, settings) -> dict:
    row = {"video_id": video_id, "path": display_path(path), "size_bytes": path.stat().st_size}
    row.update({column: (outcome.value or {}).get(column) for column in FACT_COLUMNS})
    reason, message = outcome.reason, outcome.message
    if reason is None:
        verdict = check_facts(outcome.value, settings.min_duration_s, settings.min_side)
        reason, message = verdict if verdict else (None, None)
    row.update({"status": "ok" if reason is None else "rejected", "reject_reason": reason, "reject_message": message})
    return row


def build_table(settings, probe: Callable = probe_video) -> tuple[pd.DataFrame, dict]:
    """Probe the videos under `settings.videos_dir`; return the videos table and the run counters."""
    folder = Path(settings.videos_dir)
    if not folder.is_dir():
        raise StageError(
            f"ingest.videos_dir = {settings.videos_dir!r}: folder not found. "
            "Create it and put video files there, or point ingest.videos_dir in params.yaml at your videos."
        )
    videos, ignored = scan(folder, settings.extensions)
    for path in ignored:
        log.info("ignoring %s: extension not in ingest.extensions", display_path(path))

    ids = {path: content_hash(path) for path in videos}
    first_path: dict[str, Path] = {}
    for path, video_id in ids.items():
        first_path.setdefault(video_id, path)
    outcomes, probed = _probe_all(first_path, settings, probe)

    rows = []
    for path, video_id in ids.items():
        if first_path[video_id] != path:
            duplicate = Outcome(video_id, reason="duplicate", message=f"same content as {display_path(first_path[video_id])}")
            rows.append(_row(video_id, path, duplicate, settings))
        else:
            rows.append(_row(video_id, path, outcomes[video_id], settings))
    table = pd.DataFrame(rows, columns=COLUMNS).astype(
        {"num_frames": "Int64", "header_num_frames": "Int64", "width": "Int64", "height": "Int64",
         "rotation": "Int64", "fps": "float64", "duration_s": "float64", "size_bytes": "int64"}
    )
    counters = {"ignored_files": len(ignored), "probed": probed, "probe_cache_hits": len(first_path) - probed}
    return table, counters


def summarize(table: pd.DataFrame, counters: dict) -> dict:
    """Return the metrics of one ingest run: files, ok, rejected, rejects per reason."""
    reasons = Counter(table["reject_reason"].dropna())
    return {
        "files": len(table),
        "ok": int((table["status"] == "ok").sum()),
        "rejected": int((table["status"] == "rejected").sum()),
        "rejects": {reason: reasons.get(reason, 0) for reason in REJECT_REASONS},
        **counters,
    }


def run(params, probe: Callable = probe_video) -> pd.DataFrame:
    """Run the ingest stage; `probe` is the function run in each isolated child."""
    settings = params.ingest
    with tracking.stage_run("ingest", params):
        table, counters = build_table(settings, probe)
        metrics = summarize(table, counters)

        layout.VIDEOS_TABLE.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(layout.VIDEOS_TABLE, index=False)
        metrics_file = layout.metrics_file("ingest")
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")

        # Inside a flow run the flow logs the metrics file; a standalone run logs it here.
        if not os.environ.get(tracking.RUN_ID_ENV):
            mlflow.log_metrics(tracking.numeric_metrics(metrics))
        rejected = table[table["status"] == "rejected"][["path", "reject_reason", "reject_message"]]
        if len(rejected):
            mlflow.log_table(rejected.reset_index(drop=True), artifact_file="ingest/rejected.json")
        for row in rejected.itertuples():
            log.info("rejected %s: %s (%s)", row.path, row.reject_reason, row.reject_message)
        log.info("ingest: %d files, %d ok, %d rejected", metrics["files"], metrics["ok"], metrics["rejected"])
    return table
