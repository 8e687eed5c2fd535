"""The train stage: outputs, MLflow logging and registration, EMA, settings checks and resume."""

import json

import pytest
import torch
from helpers_model import tiny_params, write_dataset
from mlflow.tracking import MlflowClient

from instructmove import layout
from instructmove.errors import StageError
from instructmove.model.components import build_components
from instructmove.model.pipeline import InstructMovePipeline
from instructmove.model.train import run

torch.set_num_threads(1)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_writes_outputs_and_logs(workdir):
    params = tiny_params(workdir, train={"max_steps": 4, "sample_every_n_steps": 2})
    metrics = run(params)

    saved = json.loads(layout.metrics_file("train").read_text())
    registration = json.loads((layout.PIPELINE_DIR / "registration.json").read_text())
    client = MlflowClient(params.tracking.uri)
    history = client.get_metric_history(registration["run_id"], "train/loss")
    artifacts = [item.path for item in client.list_artifacts(registration["run_id"], "samples")]
    version = client.get_model_version(registration["name"], registration["version"])

    assert saved == metrics
    assert saved["steps"] == 4
    assert saved["conditioning"] == "spatial"
    assert saved["preset"] == "tiny-pixel"
    assert saved["final_loss"] > 0
    assert (layout.CHECKPOINT_DIR / "last.ckpt").is_file()
    assert registration["name"] == "instructmove"
    assert version.run_id == registration["run_id"]
    assert sorted(point.step for point in history) == [0, 1, 2, 3]
    assert "samples/step_000002.png" in artifacts
    assert "samples/step_000004.png" in artifacts
    pipe = InstructMovePipeline.from_pretrained(layout.PIPELINE_DIR)
    assert pipe.config.conditioning == "spatial"


def test_ema_steps_every_optimiser_step_and_is_saved(workdir):
    params = tiny_params(workdir, model={"preset": "tiny-latent", "conditioning": "channel", "resolution": 32},
                         train={"max_steps": 3, "gradient_accumulation_steps": 2, "gradient_checkpointing": True,
                                "controlnet": True, "ema_decay": 0.9, "register_model": False})
    run(params)

    checkpoint = torch.load(layout.CHECKPOINT_DIR / "last.ckpt", map_location="cpu", weights_only=False)
    shadow = checkpoint["ema"]["shadow_params"]
    raw = [value for key, value in checkpoint["state_dict"].items() if key.startswith("unet.")]
    pipe = InstructMovePipeline.from_pretrained(layout.PIPELINE_DIR)
    saved = list(pipe.unet.parameters())
    initial = list(build_components(params.model, seed=params.train.seed).unet.parameters())

    assert checkpoint["ema"]["optimization_step"] == 3
    assert checkpoint["global_step"] == 3
    assert pipe.controlnet is not None
    assert pipe.unet.config.in_channels == 8
    assert len(saved) <= len(shadow)
    assert all(torch.equal(ema, kept) for ema, kept in zip(shadow, saved))
    assert any(not torch.equal(ema, now) for ema, now in zip(shadow, raw))
    assert any(not torch.equal(ema, start) for ema, start in zip(shadow, initial))


def test_changed_settings_restart_and_more_steps_resume(workdir):
    run(tiny_params(workdir, train={"max_steps": 2, "register_model": False}))

    longer = run(tiny_params(workdir, train={"max_steps": 4, "register_model": False}))
    other_lr = run(tiny_params(workdir, train={"max_steps": 2, "lr": 2e-3, "register_model": False}))

    assert longer["resumed_from_step"] == 2
    assert longer["steps"] == 4
    assert other_lr["resumed_from_step"] == 0
    assert other_lr["steps"] == 2


def test_missing_train_table_names_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match="train.parquet"):
        run(tiny_params(tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is allowed on a CUDA machine")
def test_fp16_on_cpu_rejected(workdir):
    with pytest.raises(StageError, match="fp16"):
        run(tiny_params(workdir, train={"precision": "fp16"}))


@pytest.mark.slow
def test_bf16_training_runs(workdir):
    # bf16 convolutions are slow on CPUs without bf16 instructions, so this runs one small step.
    metrics = run(tiny_params(workdir, train={"max_steps": 1, "batch_size": 1, "precision": "bf16",
                                              "register_model": False, "num_sample_images": 1}))
    assert metrics["steps"] == 1
    assert 0 < metrics["final_loss"] < 10
