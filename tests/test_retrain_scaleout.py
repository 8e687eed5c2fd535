"""Scale-out settings that run on this machine: Lightning DDP on two CPU processes, a local Dask cluster."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import yaml
from mlflow.tracking import MlflowClient

from helpers_model import tiny_params, write_dataset


def test_train_ddp_two_cpu_processes(tmp_path):
    write_dataset(tmp_path)
    params = tiny_params(tmp_path, train={"accelerator": "cpu", "devices": 2, "strategy": "ddp", "num_nodes": 1,
                                          "max_steps": 3, "checkpoint_every_n_steps": 3})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params.model_dump(by_alias=True, mode="json")))

    # Lightning's `ddp` starts rank 1 by running the same command again, so the stage runs in
    # its own process rather than inside pytest.
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    environment.pop("INSTRUCTMOVE_MLFLOW_RUN_ID", None)
    command = [str(Path(sys.executable).parent / "instructmove"), "train"]
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-4000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    metrics = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert metrics["steps"] == 3
    assert (tmp_path / "models" / "pipeline" / "model_index.json").is_file()

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    versions = MlflowClient().search_model_versions("name='instructmove'")
    assert len(versions) == 1


def test_instruct_on_local_dask_cluster(tmp_path, monkeypatch, caplog):
    from helpers_instruct import make_pairs, make_params

    from instructmove.instruct.stage import write_results

    monkeypatch.chdir(tmp_path)
    pairs = make_pairs(tmp_path, 12)
    local, _ = write_results(pairs, make_params(tmp_path).instruct)

    settings = make_params(tmp_path, executor="dask", dask_workers=2).instruct
    with caplog.at_level("INFO", logger="instructmove.instruct.distributed"):
        on_dask, _ = write_results(pairs, settings)

    assert "on Dask scheduler tcp://127.0.0.1" in caplog.text
    assert on_dask == local
    assert len(on_dask) == 12
