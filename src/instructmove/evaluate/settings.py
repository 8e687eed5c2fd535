"""Settings of the `evaluate` stage (params.yaml section `evaluate`)."""

from typing import Literal

from pydantic import Field, model_validator

from instructmove.settings_base import Section

# Metric names as they appear in metrics/evaluate.json and the results table.
METRIC_NAMES = ("psnr", "ssim", "l1", "clip_i", "clip_d", "clip_t", "clip_inst")
# Metrics where a smaller value is a better edit; every other metric is better when larger.
LOWER_IS_BETTER = ("l1",)


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

    @model_validator(mode="after")
    def _direction_fits_metric(self):
        expected = self.metric not in LOWER_IS_BETTER
        if self.higher_is_better != expected:
            raise ValueError(
                f"higher_is_better = {str(self.higher_is_better).lower()} contradicts metric {self.metric}, "
                f"where {'higher' if expected else 'lower'} is better. Set higher_is_better: {str(expected).lower()}"
            )
        return self


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
