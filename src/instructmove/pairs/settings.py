"""Settings of the `pairs` stage (params.yaml section `pairs`)."""

from typing import Literal

from pydantic import Field, model_validator

from instructmove.settings_base import Section

# Settings that change how pairs are run, not which pairs come out; they stay out of the cache key.
EXECUTION_KEYS = ("executor", "dask_address", "workers", "timeout_s", "timeout_per_video_minute_s")


class PairsSettings(Section):
    # candidate sampling
    gap_s: float = Field(1.0, gt=0)
    max_gap_fraction: float = Field(0.5, gt=0, le=1)
    min_gap_s: float = Field(0.2, gt=0)
    stride_s: float = Field(0.5, gt=0)
    min_candidates: int = Field(3, ge=1)

    # optical flow and motion window
    flow_side: int = Field(256, ge=32)
    flow_preset: Literal["ultrafast", "fast", "medium"] = "fast"
    min_flow: float = Field(1.0, ge=0)
    max_flow: float = Field(40.0, gt=0)
    moving_threshold_px: float = Field(1.5, gt=0)

    # filters
    max_background_error: float = Field(0.08, gt=0)
    scene_cut_threshold: float = Field(0.5, gt=0, le=1)
    duplicate_max_distance: int = Field(12, ge=0, le=512)
    min_short_side: int = Field(128, ge=16)
    min_sharpness: float = Field(8.0, ge=0)
    min_brightness: float = Field(20.0, ge=0, le=255)
    max_brightness: float = Field(235.0, ge=0, le=255)

    # output
    frame_short_side: int = Field(256, ge=16)
    jpeg_quality: int = Field(95, ge=1, le=100)
    max_pairs_per_video: int = Field(8, ge=1)
    seed: int = 0

    # execution
    executor: Literal["local", "dask"] = "local"
    dask_address: str | None = None
    workers: int = Field(2, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    timeout_per_video_minute_s: float = Field(120.0, ge=0)

    @model_validator(mode="after")
    def _windows_are_ordered(self):
        if self.min_flow >= self.max_flow:
            raise ValueError(f"min_flow ({self.min_flow}) must be below max_flow ({self.max_flow})")
        if self.min_brightness >= self.max_brightness:
            raise ValueError(
                f"min_brightness ({self.min_brightness}) must be below max_brightness ({self.max_brightness})"
            )
        if self.min_gap_s > self.gap_s:
            raise ValueError(f"min_gap_s ({self.min_gap_s}) must not exceed gap_s ({self.gap_s})")
        return self

    def mining_values(self) -> dict:
        """Return the settings that decide which pairs come out (the cache key)."""
        return {key: value for key, value in self.model_dump(mode="json").items() if key not in EXECUTION_KEYS}
