"""The train stage: fit the editing model on the accepted triplets and save a pipeline.

    instructmove train          # or: dvc repro -s train

Reads data/dataset/train.parquet (and eval.parquet for the sample grid), writes
models/checkpoints/last.ckpt, models/pipeline/ (with registration.json) and metrics/train.json.
A matching last.ckpt is resumed: optimiser, LR schedule, EMA, step and data position.
"""

import hashlib
import json
import logging
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import mlflow
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import MLFlowLogger
from torch.utils.data import DataLoader

from instructmove import layout, tracking
from instructmove.errors import StageError
from instructmove.model.components import build_components
from instructmove.model.data import ResumableSampler, TripletDataset, load_image, read_table
from instructmove.model.module import InstructMoveModule
from instructmove.model.registry import log_and_register
from instructmove.model.samples import SampleGrid, module_pipeline
from instructmove.model.warm_start import apply_init

log = logging.getLogger(__name__)

PRECISION = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}
# Train settings that leave the optimisation unchanged, so a checkpoint stays resumable across them.
# NOTE: the cosine and linear schedules decay towards max_steps, so a run resumed with another
# max_steps follows the new schedule from its current step on.
NEUTRAL_KEYS = {
    "max_steps", "checkpoint_every_n_steps", "log_every_n_steps", "sample_every_n_steps", "num_sample_images",
    "sample_inference_steps", "resume", "register_model", "registered_model_name", "num_workers",
}


def fingerprint(params, table_path: Path) -> str:
    """Hash the settings and the training table that a checkpoint is only valid for."""
    train = {key: value for key, value in params.section("train").items() if key not in NEUTRAL_KEYS}
    payload = json.dumps({"model": params.section("model"), "train": train}, sort_keys=True).encode()
    return hashlib.sha256(payload + table_path.read_bytes()).hexdigest()[:16]


def resumable_checkpoint(params, expected: str) -> tuple[Path | None, int]:
    """Return last.ckpt and its step when it matches the current settings and data; else (None, 0)."""
    path = layout.CHECKPOINT_DIR / "last.ckpt"
    if not path.is_file():
        return None, 0
    if not params.train.resume:
        log.info("train.resume is false: starting fresh and replacing %s", path)
        path.unlink()
        return None, 0
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    found = checkpoint.get("instructmove", {}).get("fingerprint")
    if found != expected:
        log.info("%s was trained with other settings or data (%s != %s): starting fresh", path, found, expected)
        path.unlink()
        return None, 0
    step = int(checkpoint["global_step"])
    log.info("resuming from %s at optimiser step %d", path, step)
    return path, step


def held_out_examples(settings) -> list:
    """Return (source, target, instruction) of the first held-out pairs (training pairs when none)."""
    table = read_table(layout.EVAL_TABLE) if layout.EVAL_TABLE.is_file() else None
    if table is None or table.empty:
        table = read_table(layout.TRAIN_TABLE)
    rows = table.head(settings.num_sample_images)
    return [
        (load_image(row.source_path), load_image(row.target_path), str(row.instruction))
        for row in rows.itertuples()
    ]


def make_trainer(params, logger, callbacks) -> L.Trainer:
    settings = params.train
    return L.Trainer(
        max_steps=settings.max_steps,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        precision=PRECISION[settings.precision],
        accumulate_grad_batches=settings.gradient_accumulation_steps,
        gradient_clip_val=settings.max_grad_norm,
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=settings.log_every_n_steps,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        default_root_dir=str(layout.MODELS),
    )


def save_pipeline(module: InstructMoveModule, folder: Path) -> None:
    """Save the pipeline with the EMA weights."""
    if folder.exists():
        shutil.rmtree(folder)
    with module.ema_state():
        module_pipeline(module).save_pretrained(folder)
    log.info("saved the pipeline (EMA weights) to %s", folder)


def summarise(module: InstructMoveModule, params, wall_time: float, start_step: int) -> dict:
    losses = [loss for _, loss in module.loss_history]
    window = max(1, len(losses) // 10)
    return {
        "initial_loss": sum(losses[:window]) / window if losses else None,
        "final_loss": sum(losses[-window:]) / window if losses else None,
        "steps": int(module.global_step),
        "resumed_from_step": start_step,
        "samples_seen": int(module.global_step) * params.train.batch_size * params.train.gradient_accumulation_steps,
        "wall_time_s": round(wall_time, 2),
        "ema_steps": int(module.ema.optimization_step),
        "conditioning": params.model.conditioning,
        "preset": params.model.preset,
        "controlnet": params.train.controlnet,
    }


def run(params) -> dict:
    started = time.perf_counter()
    settings = params.train
    if settings.precision == "fp16" and not torch.cuda.is_available():
        raise StageError("train.precision = fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    table = read_table(layout.TRAIN_TABLE)
    if table.empty:
        raise StageError(f"{layout.TRAIN_TABLE}: no training triplets; check the validate stage's report")

    L.seed_everything(settings.seed, workers=True)
    expected = fingerprint(params, layout.TRAIN_TABLE)
    checkpoint_path, start_step = resumable_checkpoint(params, expected)

    components = build_components(params.model, controlnet=settings.controlnet, seed=settings.seed)
    if checkpoint_path is None:
        log.info("initial weights: %s", apply_init(components, params))
    module = InstructMoveModule(components, params.model, settings)
    module.checkpoint_extra = {"fingerprint": expected}

    per_step = settings.batch_size * settings.gradient_accumulation_steps
    sampler = ResumableSampler(start_step * per_step, settings.max_steps * per_step)
    dataset = TripletDataset(table, params.model.resolution, settings)
    loader = DataLoader(dataset, batch_size=settings.batch_size, sampler=sampler, num_workers=settings.num_workers)
    log.info("training %s (%s) on %d triplets for %d steps", params.model.preset, params.model.conditioning,
             len(table), settings.max_steps)

    with tracking.stage_run("train", params) as active:
        logger = MLFlowLogger(
            experiment_name=params.tracking.experiment, tracking_uri=mlflow.get_tracking_uri(),
            run_id=active.info.run_id,
        )
        callbacks = [
            ModelCheckpoint(dirpath=layout.CHECKPOINT_DIR, every_n_train_steps=settings.checkpoint_every_n_steps,
                            save_last=True, save_top_k=0, enable_version_counter=False),
            SampleGrid(held_out_examples(settings), settings.sample_every_n_steps,
                       settings.sample_inference_steps, settings.seed),
            TQDMProgressBar(refresh_rate=settings.log_every_n_steps),
        ]
        trainer = make_trainer(params, logger, callbacks)
        # ResumableSampler restores the data position itself; Lightning cannot see that.
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(module, loader, ckpt_path=str(checkpoint_path) if checkpoint_path else None)
        trainer.save_checkpoint(layout.CHECKPOINT_DIR / "last.ckpt")

        # Under `ddp` every rank runs this command to the end; only rank 0 writes and registers.
        if not trainer.is_global_zero:
            return {}
        save_pipeline(module, layout.PIPELINE_DIR)
        log_and_register(layout.PIPELINE_DIR, settings.registered_model_name, settings.register_model)

    metrics = summarise(module, params, time.perf_counter() - started, start_step)
    metrics_path = layout.metrics_file("train")
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("train: loss %.4f -> %.4f over %d steps in %.0f s", metrics["initial_loss"] or 0,
             metrics["final_loss"] or 0, metrics["steps"], metrics["wall_time_s"])
    return metrics
