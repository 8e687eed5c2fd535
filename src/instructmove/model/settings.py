"""Settings of the model (section `model`) and of the `train` stage (section `train`)."""

from typing import Literal

from pydantic import Field, model_validator

from instructmove.settings_base import Section


class ModelSettings(Section):
    preset: Literal["tiny-pixel", "tiny-latent", "sd15"] = "tiny-pixel"
    conditioning: Literal["spatial", "channel"] = "spatial"
    resolution: int = Field(32, ge=8)
    pretrained_dir: str | None = None
    tiny_channels: list[int] = Field(default_factory=lambda: [32, 64], min_length=2, max_length=4)
    tiny_text_dim: int = Field(32, ge=8)
    # What the UNet regresses. null keeps the scheduler's own setting (epsilon for the tiny presets,
    # the folder's scheduler config for sd15).
    prediction_type: Literal["epsilon", "v_prediction", "sample"] | None = None

    @model_validator(mode="after")
    def _check_resolution(self):
        # tiny-latent and sd15 encode with an 8x VAE; their UNets halve the latent once per extra level.
        factor = {"tiny-pixel": 1, "tiny-latent": 8, "sd15": 8}[self.preset]
        levels = len(self.tiny_channels) if self.preset != "sd15" else 4
        multiple = factor * 2 ** (levels - 1)
        if self.resolution % multiple:
            raise ValueError(
                f"resolution {self.resolution} must be a multiple of {multiple} for preset {self.preset} "
                f"(VAE factor {factor} x 2^(UNet levels - 1)); pick e.g. {multiple * max(1, self.resolution // multiple)}"
            )
        if self.preset == "sd15" and not self.pretrained_dir:
            raise ValueError("preset sd15 needs model.pretrained_dir: a diffusers-layout folder with SD 1.5 weights")
        return self


class TrainSettings(Section):
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-4, gt=0)
    seed: int = 0
    num_workers: int = Field(0, ge=0)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    max_grad_norm: float = Field(1.0, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_scheduler: Literal["constant_with_warmup", "cosine", "linear"] = "cosine"
    lr_warmup_steps: int = Field(20, ge=0)
    ema_decay: float = Field(0.999, gt=0, lt=1)
    text_drop_rate: float = Field(0.05, ge=0, le=1)
    image_drop_rate: float = Field(0.05, ge=0, le=1)
    both_drop_rate: float = Field(0.05, ge=0, le=1)
    hflip: bool = True
    crop_min_scale: float = Field(0.8, gt=0, le=1)
    train_text_encoder: bool = False
    controlnet: bool = False
    canny_low: int = Field(100, ge=0, le=255)
    canny_high: int = Field(200, ge=0, le=255)
    checkpoint_every_n_steps: int = Field(50, ge=1)
    log_every_n_steps: int = Field(5, ge=1)
    sample_every_n_steps: int = Field(100, ge=0)
    num_sample_images: int = Field(4, ge=1)
    sample_inference_steps: int = Field(10, ge=1)
    resume: bool = True
    register_model: bool = True
    registered_model_name: str = Field("instructmove", min_length=1)
    init_from: str = Field("scratch", min_length=1)
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = Field(1, ge=-1)
    strategy: Literal["auto", "ddp", "ddp_spawn", "ddp_fork", "fsdp"] = "auto"
    num_nodes: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check_rates(self):
        total = self.text_drop_rate + self.image_drop_rate + self.both_drop_rate
        if total > 1:
            raise ValueError(
                f"text_drop_rate + image_drop_rate + both_drop_rate = {total:.3f} exceeds 1; "
                "they are disjoint events, so lower them"
            )
        if self.devices == 0:
            raise ValueError("devices = 0 is invalid: use a positive count, or -1 for every device of the node")
        if self.canny_low > self.canny_high:
            raise ValueError(f"canny_low {self.canny_low} is above canny_high {self.canny_high}; swap them")
        return self
