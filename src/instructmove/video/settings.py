"""Settings of the `ingest` stage (params.yaml section `ingest`)."""

from pydantic import Field, field_validator

from instructmove.settings_base import Section


class IngestSettings(Section):
    videos_dir: str = "data/videos"
    extensions: list[str] = Field(default_factory=lambda: [".mp4", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"])
    min_duration_s: float = Field(0.5, ge=0)
    min_side: int = Field(64, ge=2)
    check_frames: int = Field(5, ge=1)
    workers: int = Field(2, ge=1)
    timeout_s: float = Field(60.0, gt=0)

    @field_validator("extensions")
    @classmethod
    def _extensions_start_with_dot(cls, value: list[str]) -> list[str]:
        for extension in value:
            if not extension.startswith("."):
                raise ValueError(f"extension {extension!r} must start with a dot, e.g. '.mp4'")
        return [extension.lower() for extension in value]
