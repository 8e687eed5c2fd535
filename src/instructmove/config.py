"""Load params.yaml into typed settings.

    params = load_params("params.yaml")
    params.pairs.gap_s

An invalid file fails before any work with the key, the value, the rule it broke and the fix.
"""

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from instructmove.evaluate.settings import EvaluateSettings
from instructmove.instruct.settings import InstructSettings
from instructmove.model.settings import ModelSettings, TrainSettings
from instructmove.pairs.settings import PairsSettings
from instructmove.retrain.settings import RetrainSettings
from instructmove.settings_base import Section
from instructmove.validate.settings import ValidateSettings
from instructmove.video.settings import IngestSettings


class TrackingSettings(Section):
    uri: str = "sqlite:///mlflow.db"
    artifact_dir: str = "mlruns"
    experiment: str = "instructmove"


class FlowSettings(Section):
    retries: int = Field(1, ge=0)
    retry_delay_s: float = Field(5.0, ge=0)


class Params(Section):
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    pairs: PairsSettings = Field(default_factory=PairsSettings)
    instruct: InstructSettings = Field(default_factory=InstructSettings)
    validate_: ValidateSettings = Field(default_factory=ValidateSettings, alias="validate")
    model: ModelSettings = Field(default_factory=ModelSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)

    @model_validator(mode="after")
    def _champion_is_findable(self):
        # Evaluate moves the champion alias under its registry name; training looks it up under its own.
        if self.train.init_from == "champion" and self.train.registered_model_name != self.evaluate.promotion.registered_model:
            raise ValueError(
                f"train.init_from is champion, but train.registered_model_name ({self.train.registered_model_name!r}) "
                f"differs from evaluate.promotion.registered_model ({self.evaluate.promotion.registered_model!r}); "
                "set both to the same name"
            )
        return self

    def section(self, name: str) -> dict[str, Any]:
        """Return one section as a plain dict, under its params.yaml name."""
        return self.model_dump(by_alias=True, mode="json")[name]


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or contains an invalid value."""


def _format_errors(path: Path, raw: dict, error: ValidationError) -> str:
    lines = [f"{path}: {error.error_count()} invalid setting(s):"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        value = _lookup(raw, item["loc"])
        rule = item["msg"]
        if item["type"] == "extra_forbidden":
            rule = "unknown key; check its spelling against the documented keys of this section"
        rule = rule.removeprefix("Value error, ")
        if isinstance(value, dict):
            # A rule across several keys: the message names them, and the whole section would be noise.
            lines.append(f"  {key or '(top level)'}: {rule}")
        else:
            lines.append(f"  {key} = {value!r}: {rule}")
    lines.append(f"Fix these keys in {path} and run again.")
    return "\n".join(lines)


def _lookup(raw: Any, loc: tuple) -> Any:
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return "<missing>" if node is raw or isinstance(node, dict) else node
    return node


def parse_params(raw: dict, source: Path | str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping."""
    path = Path(source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}.")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(path, raw, error)) from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found. Run from the repository root or pass --params PATH.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    return parse_params(raw, path)
