"""Settings of the model (section `model`) and of the `train` stage (section `train`)."""

from typing import Literal

from pydantic import Field

from instructmove.settings_base import Section


class ModelSettings(Section):
    preset: Literal["tiny-pixel", "tiny-latent", "sd15"] = "tiny-pixel"
    conditioning: Literal["spatial", "channel"] = "spatial"
    resolution: int = Field(32, ge=8)
    pretrained_dir: str | None = None


class TrainSettings(Section):
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-4, gt=0)
    seed: int = 0
    num_workers: int = Field(0, ge=0)
