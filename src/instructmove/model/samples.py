"""Edit a fixed set of held-out sources during training and log the grid to MLflow."""

import logging

import lightning as L
import torch
from PIL import Image

from instructmove.model import imaging
from instructmove.model.pipeline import InstructMovePipeline

log = logging.getLogger(__name__)


def make_grid(rows: list[list[Image.Image]]) -> Image.Image:
    """Tile equally sized images: one row per example (source | edit | target)."""
    width, height = rows[0][0].size
    grid = Image.new("RGB", (width * len(rows[0]), height * len(rows)))
    for row_index, row in enumerate(rows):
        for column_index, image in enumerate(row):
            grid.paste(image, (column_index * width, row_index * height))
    return grid


def module_pipeline(module) -> InstructMovePipeline:
    """Wrap the module's current components in an inference pipeline (no copies)."""
    pipe = InstructMovePipeline(
        unet=module.unet, text_encoder=module.text_encoder, tokenizer=module.tokenizer,
        scheduler=_ddim(module.noise_scheduler), vae=module.vae, controlnet=module.controlnet,
        conditioning=module.model_settings.conditioning, resolution=module.model_settings.resolution,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ddim(scheduler):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(scheduler.config)


class SampleGrid(L.Callback):
    """Every N optimiser steps (and at the end), edit the held-out examples with the EMA weights."""

    def __init__(self, examples: list[tuple[Image.Image, Image.Image, str]], every_n_steps: int, steps: int, seed: int):
        self.examples = examples
        self.every_n_steps = every_n_steps
        self.steps = steps
        self.seed = seed
        self.last_logged = -1

    def render(self, module) -> Image.Image:
        sources = [source for source, _, _ in self.examples]
        instructions = [instruction for _, _, instruction in self.examples]
        size = module.model_settings.resolution
        was_training = module.training
        module.eval()
        with module.ema_state():
            edits = module_pipeline(module)(
                image=sources, prompt=instructions, num_inference_steps=self.steps,
                generator=torch.Generator().manual_seed(self.seed),
            ).images
        module.train(was_training)
        rows = [
            [imaging.square(source, size), edit, imaging.square(target, size)]
            for (source, target, _), edit in zip(self.examples, edits)
        ]
        return make_grid(rows)

    def log_grid(self, trainer, module) -> None:
        step = trainer.global_step
        if not self.examples or step == self.last_logged or trainer.logger is None:
            return
        grid = self.render(module)
        trainer.logger.experiment.log_image(trainer.logger.run_id, grid, artifact_file=f"samples/step_{step:06d}.png")
        self.last_logged = step
        log.info("logged the sample grid at step %d", step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        at_boundary = (batch_idx + 1) % trainer.accumulate_grad_batches == 0
        if self.every_n_steps and at_boundary and step % self.every_n_steps == 0:
            self.log_grid(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.log_grid(trainer, module)
