"""Run one DVC stage and record it as a nested MLflow run.

The Prefect flows call `run_stage` once per stage, and DVC decides whether the stage is stale.
Either way the stage gets a nested run with its params, the numbers of its metrics file, the
git commit and its dvc.lock hash. A tag records whether it ran or was skipped.
"""

import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from instructmove import layout, tracking

log = logging.getLogger(__name__)

# Main artefacts the flow attaches to each stage's run, besides its metrics file.
STAGE_ARTIFACTS = {
    "ingest": [layout.VIDEOS_TABLE],
    "pairs": [layout.PAIRS_TABLE],
    "instruct": [layout.TRIPLETS_TABLE],
    "validate": [layout.VALIDATION_DIR, layout.QUARANTINE_TABLE],
    "train": [],
    "evaluate": [layout.EVALUATION_DIR],
}
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024


class StageFailed(RuntimeError):
    """A DVC stage failed; the message carries the stage's own error when it reported one."""


@dataclass
class StageResult:
    stage: str
    ran: bool
    run_id: str
    seconds: float
    metrics: dict = field(default_factory=dict)


def reproduce(root: Path, stage: str) -> bool:
    """Run `dvc repro --single-item STAGE`; return True when DVC executed the stage."""
    from dvc.repo import Repo

    # DVC prints through its own handler; propagating as well would print every line twice.
    logging.getLogger("dvc").propagate = False
    # After every stage DVC suggests `git add dvc.lock`; the README explains when to commit it.
    logging.getLogger("dvc.repo.scm_context").setLevel(logging.WARNING)
    # DVC 3.67 resolves stage names and paths against the working directory, not the repo's root.
    with contextlib.chdir(root), Repo(".") as repo:
        executed = repo.reproduce(stage, single_item=True)
    return any(item.addressing == stage for item in executed)


def read_metrics(root: Path, stage: str) -> dict:
    path = root / layout.metrics_file(stage)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def _log_artifacts(client: MlflowClient, run_id: str, root: Path, stage: str) -> None:
    for relative in [layout.metrics_file(stage), *STAGE_ARTIFACTS[stage]]:
        path = root / relative
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=relative.name)
        elif path.is_file() and path.stat().st_size <= MAX_ARTIFACT_BYTES:
            client.log_artifact(run_id, str(path))
        elif path.is_file():
            log.warning("%s: not logged to MLflow, %d bytes is over the %d-byte artefact limit",
                        path, path.stat().st_size, MAX_ARTIFACT_BYTES)


def _stage_environment(run_id: str) -> dict[str, str]:
    """Environment for the stage process: the nested run id and this interpreter's bin first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if not path.startswith(bin_dir + os.pathsep):
        path = bin_dir + os.pathsep + path
    return {tracking.RUN_ID_ENV: run_id, "PATH": path}


def run_stage(root: Path, stage: str, params, experiment_id: str, parent_run_id: str) -> StageResult:
    """Reproduce one stage with DVC inside a nested MLflow run; re-raise its failure after recording it."""
    client = MlflowClient()
    tags = {
        MLFLOW_PARENT_RUN_ID: parent_run_id,
        MLFLOW_RUN_NAME: stage,
        "instructmove.stage": stage,
        **tracking.common_tags(root),
    }
    run = client.create_run(experiment_id, tags=tags, run_name=stage)
    run_id = run.info.run_id
    params_flat = {}
    for section in tracking.STAGE_SECTIONS[stage]:
        for key, value in tracking.flatten(params.section(section)).items():
            params_flat[f"{section}.{key}"] = str(value)[:500]
    # MLflow accepts at most 100 params per batch.
    items = [Param(key, value) for key, value in params_flat.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start:start + 100])

    saved = {key: os.environ.get(key) for key in (tracking.RUN_ID_ENV, "PATH")}
    os.environ.update(_stage_environment(run_id))
    error_path = root / layout.error_file(stage)
    error_path.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        ran = reproduce(root, stage)
    except Exception as error:
        reason = error_path.read_text() if error_path.is_file() else ""
        message = f"stage {stage} failed: {reason or error}"
        client.set_tag(run_id, "instructmove.error", message[:5000])
        client.set_terminated(run_id, status="FAILED")
        raise StageFailed(message) from error
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - started

    metrics = read_metrics(root, stage)
    now = int(time.time() * 1000)
    numeric = tracking.numeric_metrics(metrics)
    numeric["stage.seconds"] = seconds
    client.log_batch(
        run_id,
        metrics=[Metric(key, value, now, 0) for key, value in numeric.items()],
        tags=[
            RunTag("instructmove.status", "ran" if ran else "skipped"),
            RunTag("instructmove.skipped", str(not ran).lower()),
            RunTag("dvc.lock_hash", tracking.dvc_lock_hash(stage, root)),
        ],
    )
    if ran:
        _log_artifacts(client, run_id, root, stage)
    client.set_terminated(run_id, status="FINISHED")
    log.info("stage %s %s in %.1f s (MLflow run %s)", stage, "ran" if ran else "skipped (up to date)", seconds, run_id)
    return StageResult(stage=stage, ran=ran, run_id=run_id, seconds=seconds, metrics=metrics)
