"""Settings of the scheduled retraining flow (params.yaml section `retrain`)."""

from pydantic import Field, field_validator, model_validator

from instructmove.settings_base import Section


class RetrainSettings(Section):
    inbox_dir: str | None = "data/inbox"
    manifest: str | None = None
    min_new_pairs: int = Field(1, ge=1)
    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    deployment: str = Field("scheduled-retrain", min_length=1)
    lock_wait_s: float = Field(0.0, ge=0)
    state_dir: str = ".cache/retrain"

    @field_validator("cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str) -> str:
        # Prefect parses the expression itself when the deployment is served; this catches typos earlier.
        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} needs five fields (minute hour day month weekday), e.g. '0 3 * * *'")
        return value

    @model_validator(mode="after")
    def _has_a_source(self):
        if not self.inbox_dir and not self.manifest:
            raise ValueError("set inbox_dir or manifest (or both): the retrain flow needs a place to find new videos")
        return self
