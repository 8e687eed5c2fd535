"""Settings of the `instruct` stage (params.yaml section `instruct`)."""

from typing import Literal

from pydantic import Field

from instructmove.settings_base import Section


class InstructSettings(Section):
    backend: Literal["flow", "openai"] = "flow"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(300, ge=16)
    timeout_s: float = Field(60.0, gt=0)
    seed: int = 0
