"""Settings of the `instruct` stage (params.yaml section `instruct`)."""

from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from instructmove.layout import INSTRUCT_CACHE
from instructmove.settings_base import Section


class Price(Section):
    """Price of one model in US dollars per million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


# Example prices in USD per million tokens, for the cost estimate only. Check the provider's
# current price list before relying on them.
DEFAULT_PRICES = {
    "gpt-4o": Price(prompt=2.5, completion=10.0),
    "gpt-4o-mini": Price(prompt=0.15, completion=0.6),
}


class FlowWriterSettings(Section):
    """Thresholds of the offline writer. Pan, tilt and subject motion are in pixels at pairs.flow_side."""

    min_pan_px: float = Field(2.0, gt=0)
    min_zoom: float = Field(0.03, gt=0)
    min_rotation_deg: float = Field(2.0, gt=0)
    min_subject_px: float = Field(2.0, gt=0)


class InstructSettings(Section):
    backend: Literal["flow", "openai"] = "flow"

    # Request
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o"
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    prompt_version: str = Field("v1", pattern=r"^[A-Za-z0-9_.-]+$")
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(300, ge=16)
    timeout_s: float = Field(60.0, gt=0)
    seed: int = 0
    json_mode: bool = False
    max_image_side: int = Field(512, ge=32)
    jpeg_quality: int = Field(90, ge=1, le=100)

    # Throughput and faults
    max_in_flight: int = Field(8, ge=1)
    requests_per_minute: float = Field(0.0, ge=0)
    max_attempts: int = Field(6, ge=1)
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    retry_after_max_s: float = Field(600.0, gt=0)
    max_failure_rate: float = Field(0.05, ge=0, le=1)

    # Where the pairs are processed
    executor: Literal["local", "dask"] = "local"
    dask_address: str | None = None
    dask_workers: int = Field(2, ge=1)

    # Cache and cost
    cache_dir: str = str(INSTRUCT_CACHE)
    prices: dict[str, Price] = Field(
        default_factory=lambda: {name: price.model_copy() for name, price in DEFAULT_PRICES.items()}
    )

    flow: FlowWriterSettings = Field(default_factory=FlowWriterSettings)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        # Without this check, a URL with no scheme fails every request as a retried connection error.
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1")
        return value

    @model_validator(mode="after")
    def _backoff_is_ordered(self):
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_base_s ({self.backoff_base_s}) must not exceed backoff_max_s ({self.backoff_max_s})"
            )
        return self
