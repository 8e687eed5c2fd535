"""DVC experiments and MLflow line up: a run started by `dvc exp run` carries the experiment's name.

DVC 3.67 passes the name to every stage command in DVC_EXP_NAME, and the parent repository's
root in DVC_ROOT (also when the experiment runs in a temporary copy with --temp or --queue).
"""

import csv
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from instructmove import tracking

BIN = Path(sys.executable).parent

LOG_RUN = textwrap.dedent("""
    import json
    import os

    import mlflow

    from instructmove import tracking
    from instructmove.config import load_params

    params = load_params("params.yaml")
    with tracking.stage_run("train", params):
        mlflow.log_metric("lr_seen", params.train.lr)
    os.makedirs("metrics", exist_ok=True)
    with open("metrics/train.json", "w") as handle:
        json.dump({"lr_x1000": params.train.lr * 1000}, handle)
""")


def _run(root: Path, *command: str) -> str:
    # The queue's worker starts `dvc` by name, so the venv's bin folder must be on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120, env=env,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _experiment_repo(root: Path) -> Path:
    """A git + DVC repository with one stage that logs an MLflow run through `tracking.stage_run`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "log_run.py").write_text(LOG_RUN)
    params = {"train": {"lr": 0.0005}, "tracking": {"uri": "sqlite:///mlflow.db", "artifact_dir": "mlruns",
                                                   "experiment": "exp-test"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    stage = {"cmd": f"{sys.executable} log_run.py", "deps": ["log_run.py"], "params": ["train.lr"],
             "metrics": ["metrics/train.json"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    # As in the project: metrics/ is ignored by git, so DVC keeps the metrics in its cache.
    (root / ".gitignore").write_text("mlflow.db\nmlruns/\nmetrics/\n")

    _run(root, "git", "init", "--quiet")
    _run(root, str(BIN / "dvc"), "init", "--quiet")
    _run(root, "git", "add", "-A")
    _run(root, "git", "-c", "user.email=test@example.invalid", "-c", "user.name=test", "commit", "--quiet", "-m", "repo")
    return root


def _runs_by_experiment(root: Path) -> dict[str, mlflow.entities.Run]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("exp-test")
    runs = client.search_runs([experiment.experiment_id])
    return {run.data.tags.get("dvc.experiment", ""): run for run in runs}


def test_common_tags_read_dvc_exp_name(monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "bushy-lake")
    assert tracking.common_tags()["dvc.experiment"] == "bushy-lake"


def test_common_tags_without_experiment(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert "dvc.experiment" not in tracking.common_tags()


def _exp_show(root: Path) -> dict[str, dict[str, str]]:
    """Rows of `dvc exp show --csv` by experiment name."""
    text = _run(root, str(BIN / "dvc"), "exp", "show", "--no-pager", "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    return {row["Experiment"]: row for row in rows if row["Experiment"]}


@pytest.mark.slow
def test_exp_run_names_reach_mlflow(tmp_path):
    root = _experiment_repo(tmp_path / "repo")
    dvc = str(BIN / "dvc")

    _run(root, dvc, "exp", "run", "--name", "lr-workspace", "--set-param", "train.lr=0.001")
    _run(root, dvc, "exp", "run", "--temp", "--name", "lr-temp", "--set-param", "train.lr=0.002")

    runs = _runs_by_experiment(root)
    assert set(runs) >= {"lr-workspace", "lr-temp"}
    assert runs["lr-workspace"].data.params["train.lr"] == "0.001"
    assert runs["lr-temp"].data.params["train.lr"] == "0.002"
    assert runs["lr-temp"].data.metrics["lr_seen"] == pytest.approx(0.002)
    assert runs["lr-temp"].info.run_name == "train (lr-temp)"

    shown = _exp_show(root)
    assert shown["lr-workspace"]["lr_x1000"] == "1.0"
    assert shown["lr-temp"]["lr_x1000"] == "2.0"


@pytest.mark.slow
def test_exp_queue_names_reach_mlflow(tmp_path):
    root = _experiment_repo(tmp_path / "repo")
    dvc = str(BIN / "dvc")

    _run(root, dvc, "exp", "run", "--queue", "--name", "lr-queued", "--set-param", "train.lr=0.003")
    _run(root, dvc, "queue", "start")
    try:
        _run(root, dvc, "queue", "logs", "--follow", "lr-queued")
    finally:
        _run(root, dvc, "queue", "stop")

    runs = _runs_by_experiment(root)
    assert "lr-queued" in runs
    assert runs["lr-queued"].data.params["train.lr"] == "0.003"
    assert _exp_show(root)["lr-queued"]["lr_x1000"] == "3.0"
