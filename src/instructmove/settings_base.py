"""Base class for the typed settings of one params.yaml section."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """One params.yaml section: unknown keys are rejected and values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
