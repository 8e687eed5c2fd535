"""Settings of the `evaluate` stage (params.yaml section `evaluate`)."""

from pydantic import Field

from instructmove.settings_base import Section


class EvaluateSettings(Section):
    clip_model: str | None = None
    num_inference_steps: int = Field(20, ge=1)
    guidance_scale: float = Field(5.0, ge=1)
    image_guidance_scale: float = Field(1.5, ge=1)
    max_examples: int = Field(16, ge=1)
    seed: int = 0
