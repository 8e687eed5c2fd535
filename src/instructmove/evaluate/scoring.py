"""Score each method's edits per example, then average per method."""

import math

from PIL import Image

from instructmove.evaluate.benchmark import BenchmarkExample
from instructmove.evaluate.clip_scorer import ClipScorer, score_examples
from instructmove.evaluate.pixels import pixel_metrics
from instructmove.evaluate.prepare import resize_to
from instructmove.evaluate.settings import METRIC_NAMES


def score_method(
    method: str,
    examples: list[BenchmarkExample],
    sources: list[Image.Image],
    targets: list[Image.Image | None],
    edits: list[Image.Image],
    scorer: ClipScorer | None,
) -> list[dict]:
    """Return one row per example: pixel metrics against the target resized to the edit, and CLIP metrics."""
    rows = []
    for example, edit, target in zip(examples, edits, targets):
        row: dict = {"method": method, "example_id": example.example_id, "instruction": example.instruction}
        row.update(dict.fromkeys(METRIC_NAMES))
        if target is not None:
            row.update(pixel_metrics(edit, resize_to(target, edit.size)))
        rows.append(row)

    if scorer is not None:
        clip_rows = score_examples(
            scorer,
            [resize_to(source, edit.size) for source, edit in zip(sources, edits)],
            edits,
            [example.instruction for example in examples],
            [example.caption_before for example in examples],
            [example.caption_after for example in examples],
        )
        for row, clip_row in zip(rows, clip_rows):
            row.update(clip_row)
    return rows


def _mean(values: list[float]) -> float | None:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return sum(finite) / len(finite) if finite else None


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Average every metric per method over the examples that have it.

    `counts` holds how many examples were scored against a target (PSNR, SSIM, L1), with CLIP
    (CLIP-I, CLIP-Inst) and with both captions (CLIP-D, CLIP-T).
    """
    summary: dict[str, dict] = {}
    for method in dict.fromkeys(row["method"] for row in rows):
        method_rows = [row for row in rows if row["method"] == method]
        entry: dict = {"examples": len(method_rows)}
        counts: dict[str, int] = {}
        for metric in METRIC_NAMES:
            values = [row[metric] for row in method_rows if row[metric] is not None]
            entry[metric] = _mean(values)
            counts[metric] = len(values)
        entry["counts"] = {"target": counts["psnr"], "clip": counts["clip_i"], "captions": counts["clip_d"]}
        summary[method] = entry
    return summary
