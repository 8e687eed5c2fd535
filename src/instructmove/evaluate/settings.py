"""Settings of the `evaluate` stage (params.yaml section `evaluate`)."""

from typing import Literal

from pydantic import Field

from instructmove.settings_base import Section

# Metric names as they appear in metrics/evaluate.json and the results table.
METRIC_NAMES = ("psnr", "ssim", "l1", "clip_i", "clip_d", "clip_t", "clip_inst")


class BaselineSettings(Section):
    ip2p_dir: str | None = None
    ip2p_resolution: int = Field(512, ge=64, multiple_of=8)
    ip2p_guidance_scale: float = Field(7.5, ge=1)
    ip2p_image_guidance_scale: float = Field(1.5, ge=1)


class PromotionSettings(Section):
    enabled: bool = True
    metric: Literal["psnr", "ssim", "l1", "clip_i", "clip_d", "clip_t", "clip_inst"] = "psnr"
    higher_is_better: bool = True
    margin: float = 0.0
    registered_model: str = "instructmove"
    reevaluate_champion: bool = True


class EvaluateSettings(Section):
    benchmark: str = "data/dataset/benchmark"
    pipeline_dir: str = "models/pipeline"
    clip_model: str | None = None
    num_inference_steps: int = Field(20, ge=1)
    guidance_scale: float = Field(5.0, ge=1)
    image_guidance_scale: float = Field(1.5, ge=1)
    max_examples: int = Field(16, ge=1)
    batch_size: int = Field(4, ge=1)
    crop: Literal["center", "stretch"] = "center"
    grid_cell: int = Field(128, ge=16)
    seed: int = 0
    baselines: BaselineSettings = Field(default_factory=BaselineSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
