"""Settings of the `ingest` stage (params.yaml section `ingest`)."""

from pydantic import Field

from instructmove.settings_base import Section


class IngestSettings(Section):
    videos_dir: str = "data/videos"
    extensions: list[str] = Field(default_factory=lambda: [".mp4", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"])
