"""MLflow set-up shared by the stages and the flows.

The flow creates one parent run per flow run and one nested run per stage, and passes the
nested run's id to the stage process in INSTRUCTMOVE_MLFLOW_RUN_ID. A stage started by hand
(`instructmove pairs`, `dvc repro`) logs to a standalone run of its own instead.
"""

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import yaml

from instructmove.layout import metrics_file

log = logging.getLogger(__name__)

RUN_ID_ENV = "INSTRUCTMOVE_MLFLOW_RUN_ID"
STAGES = ("ingest", "pairs", "instruct", "validate", "train", "evaluate")

# The params.yaml sections each stage reads; dvc.yaml lists the same sections as the stage's params.
STAGE_SECTIONS = {
    "ingest": ("ingest",),
    "pairs": ("pairs",),
    "instruct": ("instruct",),
    "validate": ("validate",),
    "train": ("model", "train"),
    "evaluate": ("evaluate", "model"),
}


def resolve_uri(uri: str, root: Path | str = ".") -> str:
    """Make a relative sqlite path absolute against the repository root."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str((Path(root) / uri[len(prefix):]).resolve())
    return uri


def configure(settings, root: Path | str = ".") -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    mlflow.set_tracking_uri(resolve_uri(settings.uri, root))
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        mlflow.set_experiment(settings.experiment)
        return experiment.experiment_id
    if "://" in settings.artifact_dir:  # an object store such as s3://bucket/mlruns
        location = settings.artifact_dir
    else:
        artifact_dir = Path(settings.artifact_dir)
        if not artifact_dir.is_absolute():
            artifact_dir = (Path(root) / artifact_dir).resolve()
        location = artifact_dir.as_uri()
    experiment_id = mlflow.create_experiment(settings.experiment, artifact_location=location)
    mlflow.set_experiment(settings.experiment)
    return experiment_id


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def numeric_metrics(data: dict) -> dict[str, float]:
    """Keep the numeric leaves of a metrics dict; booleans and strings are dropped."""
    return {
        key.replace(" ", "_"): float(value)
        for key, value in flatten(data).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def git_commit(root: Path | str = ".") -> str:
    """Return the current git commit, with '-dirty' when tracked files changed, or 'unknown'."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def dvc_lock_hash(stage: str, root: Path | str = ".") -> str:
    """Return a short hash of a stage's entry in dvc.lock, or 'none' before its first run."""
    lock = Path(root) / "dvc.lock"
    if not lock.is_file():
        return "none"
    entry = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).get(stage)
    if entry is None:
        return "none"
    return hashlib.md5(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:12]


def common_tags(root: Path | str = ".") -> dict[str, str]:
    """Tags that every run carries: git commit and, inside `dvc exp run`, the experiment name."""
    tags = {"git.commit": git_commit(root)}
    experiment_name = os.environ.get("DVC_EXP_NAME")
    if experiment_name:
        tags["dvc.experiment"] = experiment_name
    return tags


def log_params_section(section: str, values: dict) -> None:
    """Log one params.yaml section as MLflow params with dotted keys."""
    flat = {f"{section}.{key}": str(value)[:500] for key, value in flatten(values).items()}
    if flat:
        mlflow.log_params(flat)


@contextlib.contextmanager
def stage_run(stage: str, params) -> Iterator[mlflow.ActiveRun]:
    """Attach to the flow's nested run for this stage, or start a standalone run."""
    # `dvc exp run --temp` and `--queue` run stages in a temporary copy of the repository; DVC sets
    # DVC_ROOT to the original root, where the store must stay so the runs survive the copy.
    configure(params.tracking, os.environ.get("DVC_ROOT", "."))
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        with mlflow.start_run(run_id=run_id) as run:
            yield run
        return

    # Inside `dvc exp run` the run name carries the experiment name, as `dvc exp show` lists it.
    experiment_name = os.environ.get("DVC_EXP_NAME")
    run_name = f"{stage} ({experiment_name})" if experiment_name else f"{stage} (standalone)"
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags({**common_tags(), "instructmove.stage": stage, "instructmove.standalone": "true"})
        for name in STAGE_SECTIONS.get(stage, ()):
            log_params_section(name, params.section(name))
        started = time.time()
        yield run
        _log_metrics_file(stage, run.info.run_id, since=started)


def _log_metrics_file(stage: str, run_id: str, since: float) -> None:
    """Log a freshly written metrics file to a standalone run, which has no flow runner to do it.

    Keys the stage already logged itself are left alone.
    """
    path = metrics_file(stage)
    if not path.is_file() or path.stat().st_mtime < since:
        return
    logged = set(mlflow.get_run(run_id).data.metrics)
    fresh = {key: value for key, value in numeric_metrics(json.loads(path.read_text())).items() if key not in logged}
    if fresh:
        mlflow.log_metrics(fresh)
