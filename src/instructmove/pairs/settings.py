"""Settings of the `pairs` stage (params.yaml section `pairs`)."""

from pydantic import Field, model_validator

from instructmove.settings_base import Section


class PairsSettings(Section):
    gap_s: float = Field(1.0, gt=0)
    stride_s: float = Field(0.5, gt=0)
    flow_side: int = Field(256, ge=32)
    min_flow: float = Field(1.0, ge=0)
    max_flow: float = Field(40.0, gt=0)
    frame_short_side: int = Field(256, ge=16)
    jpeg_quality: int = Field(95, ge=1, le=100)
    max_pairs_per_video: int = Field(8, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _window_is_ordered(self):
        if self.min_flow >= self.max_flow:
            raise ValueError(f"min_flow ({self.min_flow}) must be below max_flow ({self.max_flow})")
        return self
