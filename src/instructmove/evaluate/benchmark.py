"""Load an editing benchmark: a folder with one JSONL file, one example per line.

Each line is a JSON object with `source` and `instruction`, and optionally `target`, `mask`,
`caption_before`, `caption_after`, `pair_id` and `video_id`. Image paths are relative to the JSONL file.
Held-out video pairs are exported in this format by the validate stage; users can point
`evaluate.benchmark` at their own folder.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from instructmove.errors import StageError

DEFAULT_NAME = "benchmark.jsonl"


class BenchmarkRow(BaseModel):
    """One JSONL line as written. Unknown keys, which other tools may add, are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    source: str
    instruction: str
    target: str | None = None
    mask: str | None = None
    caption_before: str | None = None
    caption_after: str | None = None
    pair_id: str | None = None
    video_id: str | None = None

    @field_validator("source", "instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


@dataclass(frozen=True)
class BenchmarkExample:
    """One example with absolute image paths; `line` is its 1-based line in the JSONL file."""

    example_id: str
    line: int
    source: Path
    instruction: str
    target: Path | None
    mask: Path | None
    caption_before: str | None
    caption_after: str | None
    video_id: str | None = None


def find_benchmark_file(path: Path | str) -> Path:
    """Return the JSONL file of a benchmark given the file itself or its folder."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise StageError(f"benchmark {path}: not found. Run the validate stage or set evaluate.benchmark.")
    default = path / DEFAULT_NAME
    if default.is_file():
        return default
    candidates = sorted(path.glob("*.jsonl"))
    if len(candidates) != 1:
        raise StageError(
            f"benchmark folder {path}: expected {DEFAULT_NAME} or exactly one .jsonl file, "
            f"found {len(candidates)}. Point evaluate.benchmark at the file itself."
        )
    return candidates[0]


def _parse_line(path: Path, number: int, text: str) -> BenchmarkRow:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise StageError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno}). Fix the line.") from None
    if not isinstance(data, dict):
        raise StageError(f"{path}:{number}: expected a JSON object, got {type(data).__name__}. Fix the line.")
    try:
        return BenchmarkRow.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'row'}: {item['msg']}" for item in error.errors()
        )
        raise StageError(f"{path}:{number}: invalid row ({problems}). Fix the line.") from None


def _resolve_image(path: Path, number: int, key: str, value: str | None) -> Path | None:
    if value is None:
        return None
    image = (path.parent / value).resolve()
    if not image.is_file():
        raise StageError(f"{path}:{number}: {key} image {value!r} not found at {image}. Fix the path (relative to the JSONL file).")
    return image


def _to_example(path: Path, number: int, row: BenchmarkRow) -> BenchmarkExample:
    return BenchmarkExample(
        example_id=row.pair_id or f"line-{number}",
        line=number,
        source=_resolve_image(path, number, "source", row.source),
        instruction=row.instruction.strip(),
        target=_resolve_image(path, number, "target", row.target),
        mask=_resolve_image(path, number, "mask", row.mask),
        caption_before=row.caption_before,
        caption_after=row.caption_after,
        video_id=row.video_id,
    )


def load_benchmark(path: Path | str) -> list[BenchmarkExample]:
    """Read and check every row; the first malformed row raises StageError with its line number."""
    jsonl = find_benchmark_file(path)
    examples: list[BenchmarkExample] = []
    first_line: dict[str, int] = {}

    for number, text in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        example = _to_example(jsonl, number, _parse_line(jsonl, number, text))
        if example.example_id in first_line:
            raise StageError(
                f"{jsonl}:{number}: pair_id {example.example_id!r} repeats line {first_line[example.example_id]}. "
                "Give every row a unique pair_id."
            )
        first_line[example.example_id] = number
        examples.append(example)

    if not examples:
        raise StageError(f"{jsonl}: no examples. Add one JSON object per line.")
    return examples
