"""Standalone stage runs: params, tags and the stage's metrics file reach MLflow."""

import json
import os

import mlflow
from mlflow.tracking import MlflowClient

from instructmove import tracking
from instructmove.config import Params


def test_standalone_run_logs_metrics_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tracking.RUN_ID_ENV, raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    params = Params()

    with tracking.stage_run("pairs", params) as run:
        mlflow.log_metric("already.logged", 7.0)
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / "pairs.json").write_text(
            json.dumps({"pairs": 12, "rejects": {"blur": 3}, "already": {"logged": 1}, "note": "text"}))

    client = MlflowClient(tracking.resolve_uri(params.tracking.uri, tmp_path))
    logged = client.get_run(run.info.run_id).data
    assert logged.metrics["pairs"] == 12.0
    assert logged.metrics["rejects.blur"] == 3.0
    assert logged.metrics["already.logged"] == 7.0
    assert "note" not in logged.metrics
    assert logged.params["pairs.gap_s"] == str(params.pairs.gap_s)
    assert logged.tags["instructmove.standalone"] == "true"


def test_stale_metrics_file_is_not_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tracking.RUN_ID_ENV, raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / "metrics").mkdir()
    stale = tmp_path / "metrics" / "ingest.json"
    stale.write_text(json.dumps({"videos": 3}))
    os.utime(stale, (0, 0))

    with tracking.stage_run("ingest", Params()) as run:
        pass

    client = MlflowClient(tracking.resolve_uri("sqlite:///mlflow.db", tmp_path))
    assert "videos" not in client.get_run(run.info.run_id).data.metrics


def test_dvc_lock_hash_changes_with_entry(tmp_path):
    assert tracking.dvc_lock_hash("pairs", tmp_path) == "none"
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  pairs:\n    cmd: a\n")
    first = tracking.dvc_lock_hash("pairs", tmp_path)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  pairs:\n    cmd: b\n")
    assert first != "none"
    assert tracking.dvc_lock_hash("pairs", tmp_path) != first
