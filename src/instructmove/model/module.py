"""The LightningModule: one denoising step with spatial or channel conditioning, EMA and dropout."""

import logging

import lightning as L
import torch
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from instructmove.model.components import Components
from instructmove.model.conditioning import (
    control_input, denoising_loss, regression_target, sample_dropout, unet_input,
)

log = logging.getLogger(__name__)


class InstructMoveModule(L.LightningModule):
    def __init__(self, components: Components, model_settings, train_settings):
        super().__init__()
        self.unet = components.unet
        self.text_encoder = components.text_encoder
        self.vae = components.vae
        self.controlnet = components.controlnet
        self.tokenizer = components.tokenizer
        self.noise_scheduler = components.scheduler
        self.model_settings = model_settings
        self.train_settings = train_settings

        if self.vae is not None:
            self.vae.requires_grad_(False)
        self.text_encoder.requires_grad_(train_settings.train_text_encoder)
        if train_settings.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            if self.controlnet is not None:
                self.controlnet.enable_gradient_checkpointing()

        self.ema = EMAModel(self.ema_parameters(), decay=train_settings.ema_decay, use_ema_warmup=True, power=3 / 4)
        self.loss_history: list[tuple[int, float]] = []
        self.checkpoint_extra: dict = {}
        self._step_losses: list[float] = []

    def ema_parameters(self) -> list[torch.nn.Parameter]:
        """Return the denoiser's parameters, whose running average EMA keeps (UNet, then ControlNet)."""
        parameters = list(self.unet.parameters())
        if self.controlnet is not None:
            parameters += list(self.controlnet.parameters())
        return parameters

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        parameters = self.ema_parameters()
        if self.train_settings.train_text_encoder:
            parameters += list(self.text_encoder.parameters())
        return parameters

    def encode_text(self, instructions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            instructions, padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        )
        return self.text_encoder(tokens.input_ids.to(self.device))[0]

    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.vae is None:
            return pixels
        distribution = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist
        return distribution.sample(generator) * self.vae.config.scaling_factor

    def batch_generator(self, batch: dict) -> torch.Generator:
        """Seed the noise, timesteps and dropout of a batch by its first global sample index."""
        first_index = int(batch["index"][0])
        return torch.Generator().manual_seed(self.train_settings.seed * 1_000_003 + first_index)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        settings = self.train_settings
        generator = self.batch_generator(batch)
        size = batch["source"].shape[0]

        source = self.encode_images(batch["source"], generator)
        target = self.encode_images(batch["target"], generator)

        drop_text, drop_image = sample_dropout(
            size, settings.text_drop_rate, settings.image_drop_rate, settings.both_drop_rate, generator
        )
        instructions = ["" if dropped else text for text, dropped in zip(batch["instruction"], drop_text.tolist())]
        embeddings = self.encode_text(instructions)
        source = torch.where(drop_image.to(self.device)[:, None, None, None], torch.zeros_like(source), source)

        noise = torch.randn(target.shape, generator=generator).to(target)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (size,), generator=generator)
        timesteps = timesteps.to(self.device)
        noisy = self.noise_scheduler.add_noise(target, noise, timesteps)

        model_input = unet_input(source, noisy, self.model_settings.conditioning)
        residuals = {}
        if self.controlnet is not None:
            control = control_input(batch["control"], self.model_settings.conditioning)
            down, mid = self.controlnet(
                model_input, timesteps, encoder_hidden_states=embeddings, controlnet_cond=control, return_dict=False
            )
            residuals = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        prediction = self.unet(model_input, timesteps, encoder_hidden_states=embeddings, **residuals).sample

        expected = regression_target(self.noise_scheduler, target, noise, timesteps)
        loss = denoising_loss(prediction, expected, self.model_settings.conditioning)
        self._step_losses.append(loss.item())
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=size)
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0], on_step=True, batch_size=size)
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        """Step the optimiser, then the EMA, so EMA advances exactly once per optimiser step."""
        super().optimizer_step(*args, **kwargs)
        self.ema.step(self.ema_parameters())

        loss = sum(self._step_losses) / max(1, len(self._step_losses))
        self._step_losses = []
        self.loss_history.append((self.global_step, loss))

    def configure_optimizers(self):
        settings = self.train_settings
        optimizer = torch.optim.AdamW(self.trainable_parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        schedule = get_scheduler(
            settings.lr_scheduler, optimizer,
            num_warmup_steps=settings.lr_warmup_steps, num_training_steps=settings.max_steps,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_fit_start(self) -> None:
        self.ema.to(self.device)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ema"] = self.ema.state_dict()
        checkpoint["loss_history"] = list(self.loss_history)
        checkpoint["instructmove"] = dict(self.checkpoint_extra)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.ema.load_state_dict(checkpoint["ema"])
        self.loss_history = [tuple(item) for item in checkpoint.get("loss_history", [])]
        log.info("restored EMA (%d optimiser steps) and %d loss values", self.ema.optimization_step,
                 len(self.loss_history))

    def ema_state(self):
        """Context manager: swap the EMA weights into the denoiser, and back on exit."""
        return _EmaSwap(self)


class _EmaSwap:
    def __init__(self, module: InstructMoveModule):
        self.module = module

    def __enter__(self):
        parameters = self.module.ema_parameters()
        self.module.ema.store(parameters)
        self.module.ema.copy_to(parameters)
        return self.module

    def __exit__(self, *exc):
        self.module.ema.restore(self.module.ema_parameters())
        return False
