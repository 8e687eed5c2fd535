"""Apply `section.key=value` overrides to params.yaml, keeping its comments.

This is what `dvc exp run -S` does: the change lands in params.yaml, so the run stays
reproducible from that file alone.
"""

import logging
import re
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
    path.write_text(_edit_lines(path.read_text(), overrides) or _dump(round_trip, document))


def _format_value(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _find_key(lines: list[str], start: int, end: int, indent: int, key: str) -> int | None:
    pattern = re.compile(rf"^ {{{indent}}}{re.escape(key)}:(\s|$)")
    return next((index for index in range(start, end) if pattern.match(lines[index])), None)


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Return the index of the first line after `start` that is not nested deeper than `indent`."""
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#") and len(lines[index]) - len(lines[index].lstrip()) <= indent:
            return index
    return len(lines)


def _edit_lines(text: str, overrides: list[str]) -> str | None:
    """Rewrite only the lines of the overridden keys, keeping every other byte of the file.

    Return None when a key is not a one-line `key: value` entry; the caller then writes the
    round-tripped document instead.
    """
    lines = text.splitlines(keepends=True)
    for override in overrides:
        parts, value = parse_override(override)
        start, end = 0, len(lines)
        for depth, part in enumerate(parts):
            index = _find_key(lines, start, end, 2 * depth, part)
            if index is None:
                return None
            start, end = index + 1, _block_end(lines, index + 1, 2 * depth)
        if end != start:
            return None

        match = re.match(r"^(?P<head>\s*[^:#]+:)(?P<gap>\s*)(?P<value>[^#\n]*?)(?P<comment>\s+#.*)?(?P<newline>\n?)$",
                         lines[index])
        if match is None or not match["value"]:
            return None
        comment = match["comment"] or ""
        old_width = len(match["value"])
        new_value = _format_value(value)
        if comment:
            padding = max(1, len(comment) - len(comment.lstrip()) + old_width - len(new_value))
            comment = " " * padding + comment.lstrip()
        lines[index] = f"{match['head']} {new_value}{comment}{match['newline']}"

    edited = "".join(lines)
    for override in overrides:
        parts, value = parse_override(override)
        node = yaml.safe_load(edited)
        for part in parts:
            node = node[part]
        if node != value:
            return None
    return edited


def _dump(round_trip: YAML, document) -> str:
    from io import StringIO

    buffer = StringIO()
    round_trip.dump(document, buffer)
    return buffer.getvalue()
