"""Settings of the `validate` stage (params.yaml section `validate`)."""

from pydantic import Field

from instructmove.settings_base import Section


class ValidateSettings(Section):
    min_words: int = Field(3, ge=1)
    max_words: int = Field(30, ge=1)
    eval_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
