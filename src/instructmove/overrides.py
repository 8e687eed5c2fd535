"""Apply `section.key=value` overrides to params.yaml, keeping its comments.

This is what `dvc exp run -S` does: the change lands in params.yaml, so the run stays
reproducible from that file alone.
"""

import logging
from pathlib import Path

import yaml
from ruamel.yaml import YAML

from instructmove.config import ConfigError, parse_params

log = logging.getLogger(__name__)


def parse_override(text: str) -> tuple[list[str], object]:
    """Split 'pairs.gap_s=0.5' into (['pairs', 'gap_s'], 0.5); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is invalid: expected SECTION.KEY=VALUE, e.g. pairs.gap_s=0.5")
    key, value = text.split("=", 1)
    parts = [part for part in key.strip().split(".") if part]
    if len(parts) < 2:
        raise ConfigError(f"override {text!r} is invalid: the key needs a section, e.g. ingest.videos_dir=path")
    try:
        return parts, yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {text!r}: the value is invalid YAML ({error}). Quote it, e.g. "
                          f"{key}='...'") from None


def apply_overrides(params_path: Path | str, overrides: list[str]) -> None:
    """Validate the overridden params, then write them to params.yaml; nothing is written if invalid."""
    if not overrides:
        return
    path = Path(params_path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found. Run from the repository root or pass --root PATH.")
    round_trip = YAML()
    round_trip.preserve_quotes = True
    document = round_trip.load(path.read_text())

    for text in overrides:
        parts, value = parse_override(text)
        node = document
        for depth, part in enumerate(parts[:-1], start=1):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"override {text!r}: section {'.'.join(parts[:depth])} not found in {path}")
            node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override {text!r}: {'.'.join(parts[:-1])} is a value, not a section, in {path}")
        node[parts[-1]] = value
        log.info("params.yaml: set %s = %r", ".".join(parts), value)

    parse_params(yaml.safe_load(_dump(round_trip, document)), path)
    path.write_text(_dump(round_trip, document))


def _dump(round_trip: YAML, document) -> str:
    from io import StringIO

    buffer = StringIO()
    round_trip.dump(document, buffer)
    return buffer.getvalue()
