"""Resume after `kill -9`: the run ends at the same step with the loss curve of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from helpers_model import tiny_params, write_dataset
from mlflow.tracking import MlflowClient

from instructmove import layout
from instructmove.model.train import run

torch.set_num_threads(1)

MAX_STEPS = 16
TRAIN = {"max_steps": MAX_STEPS, "checkpoint_every_n_steps": 2, "register_model": False, "lr_warmup_steps": 5,
         "gradient_accumulation_steps": 2}


def start_training(root, sample_every: int) -> subprocess.Popen:
    """Start `instructmove train` in `root`; sampling every step slows it enough to be killed midway."""
    params = tiny_params(root, train={**TRAIN, "sample_every_n_steps": sample_every})
    raw = {"model": params.section("model"), "train": params.section("train"), "tracking": params.section("tracking")}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("INSTRUCTMOVE_MLFLOW_RUN_ID", None)
    return subprocess.Popen([sys.executable, "-m", "instructmove", "train"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def checkpoint_step(path) -> int | None:
    """Return the step of a checkpoint, or None while it is missing or half written."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])
    except (FileNotFoundError, EOFError, RuntimeError, KeyError, OSError):
        return None


def kill_after_checkpoint(process: subprocess.Popen, path, min_step: int, timeout_s: float = 300) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"training exited (code {process.returncode}) before it could be killed: "
                        f"{process.stderr.read().decode()[-2000:]}")
        step = checkpoint_step(path)
        if step is not None and step >= min_step:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return step
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no checkpoint at step >= {min_step} in {path} after {timeout_s} s")


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted(tmp_path, monkeypatch):
    reference_root, killed_root = tmp_path / "reference", tmp_path / "killed"
    for root in (reference_root, killed_root):
        write_dataset(root)

    process = start_training(killed_root, sample_every=1)
    killed_at = kill_after_checkpoint(process, killed_root / layout.CHECKPOINT_DIR / "last.ckpt", min_step=4)

    monkeypatch.chdir(reference_root)
    reference = run(tiny_params(reference_root, train=TRAIN))
    reference_losses = torch.load(layout.CHECKPOINT_DIR / "last.ckpt", weights_only=False)["loss_history"]

    monkeypatch.chdir(killed_root)
    params = tiny_params(killed_root, train=TRAIN)
    resumed = run(params)
    resumed_losses = torch.load(layout.CHECKPOINT_DIR / "last.ckpt", weights_only=False)["loss_history"]
    client = MlflowClient(params.tracking.uri)
    last_run = client.search_runs([client.get_experiment_by_name("test").experiment_id],
                                  order_by=["attributes.start_time DESC"], max_results=1)[0]
    logged_steps = [point.step for point in client.get_metric_history(last_run.info.run_id, "train/loss")]

    assert killed_at < MAX_STEPS
    assert resumed["resumed_from_step"] == killed_at
    assert resumed["steps"] == reference["steps"] == MAX_STEPS
    assert [step for step, _ in resumed_losses] == [step for step, _ in reference_losses]
    assert torch.allclose(torch.tensor([loss for _, loss in resumed_losses]),
                          torch.tensor([loss for _, loss in reference_losses]), rtol=1e-3, atol=1e-5)
    assert min(logged_steps) >= killed_at
    assert resumed["final_loss"] == pytest.approx(reference["final_loss"], rel=1e-3)
