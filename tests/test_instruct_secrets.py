"""The API key never reaches MLflow (params, tags, metrics, artefacts), the logs or the outputs."""

import logging
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers_fake_openai import FakeOpenAIServer, Fault
from helpers_instruct import make_pairs, openai_params, pair_fingerprint
from instructmove import layout
from instructmove.errors import StageError
from instructmove.instruct.stage import run

KEY_ENV = "INSTRUCTMOVE_TEST_API_KEY"
SENTINEL = "sk-sentinel-7f3a9c1e5b2d4f60"


def artefact_files(client: MlflowClient, run_id: str, destination: Path) -> list[Path]:
    """Download every artefact of a run and return the files."""
    if not client.list_artifacts(run_id):
        return []
    folder = Path(client.download_artifacts(run_id, "", str(destination)))
    return [path for path in folder.rglob("*") if path.is_file()]


def run_scenarios(root: Path, server: FakeOpenAIServer) -> None:
    """Run the stage three times: with retries and an echoed key in errors, then a key rejected by the server."""
    pairs = make_pairs(root, 4)
    params = openai_params(root, server.base_url, api_key_env=KEY_ENV, max_failure_rate=0.5)
    first = pair_fingerprint(root, pairs.iloc[0].to_dict(), params.instruct)
    server.fail_pair(first, Fault("400", body=f"Key {SENTINEL} cannot read images"))
    server.fail_next(Fault("500"), Fault("429", retry_after=0.1))
    run(params)

    server.reset_counts()
    server.fail_pair(first, Fault("400", body=f"Key {SENTINEL} cannot read images"))
    with pytest.raises(StageError, match="failed"):
        run(openai_params(root, server.base_url, api_key_env=KEY_ENV, max_failure_rate=0.0))

    (root / ".cache").rename(root / "old-cache")
    server.fail_next(*[Fault("401", body=f"Incorrect API key provided: {SENTINEL}")] * 8)
    with pytest.raises(StageError, match="HTTP 401"):
        run(params)


def test_no_key_in_mlflow_or_logs(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY_ENV, SENTINEL)
    caplog.set_level(logging.DEBUG)

    with FakeOpenAIServer() as server:
        run_scenarios(tmp_path, server)
        authorizations = {seen.authorization for seen in server.requests}

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = [run for experiment in client.search_experiments()
            for run in client.search_runs([experiment.experiment_id])]
    scanned_files = []
    for index, mlflow_run in enumerate(runs):
        data = mlflow_run.data
        for key, value in {**data.params, **data.tags}.items():
            assert SENTINEL not in key and SENTINEL not in value, (mlflow_run.info.run_id, key)
        for key in data.metrics:
            assert SENTINEL not in key
        for path in artefact_files(client, mlflow_run.info.run_id, tmp_path / f"artefacts{index}"):
            scanned_files.append(path.name)
            assert SENTINEL.encode() not in path.read_bytes(), path

    assert authorizations == {f"Bearer {SENTINEL}"}
    assert len(runs) == 3
    assert any(run.data.params.get("instruct.api_key_env") == KEY_ENV for run in runs)
    assert {"samples.json", "failures.json"} <= set(scanned_files)
    assert SENTINEL.encode() not in (tmp_path / "mlflow.db").read_bytes()
    for path in (tmp_path / "mlruns").rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path
    assert SENTINEL not in caplog.text
    assert "[redacted]" in caplog.text
    assert SENTINEL.encode() not in layout.TRIPLETS_TABLE.read_bytes()
    assert SENTINEL.encode() not in layout.metrics_file("instruct").read_bytes()
