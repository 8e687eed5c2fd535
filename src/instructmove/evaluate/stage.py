"""The `evaluate` stage: edit the benchmark's sources with every method, score the edits, promote the model.

    instructmove evaluate          # what `dvc repro -s evaluate` runs

Reads the benchmark named by `evaluate.benchmark` and the pipeline in `evaluate.pipeline_dir`.
Writes `data/evaluation/` (results.md, grid.png, one grid per method, per-example scores,
the promotion decision) and `metrics/evaluate.json`.
"""

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from instructmove import layout, tracking
from instructmove.evaluate.benchmark import find_benchmark_file, load_benchmark
from instructmove.evaluate.clip_scorer import ClipUnavailable, load_clip
from instructmove.evaluate.holdout import check_held_out
from instructmove.evaluate.methods import INSTRUCTMOVE, InstructMoveEditor, build_editors
from instructmove.evaluate.prepare import load_mask_view, load_view, resize_to
from instructmove.evaluate.promotion import download_pipeline, promote, resolve_model
from instructmove.evaluate.report import make_grid, results_markdown
from instructmove.evaluate.scoring import score_method, summarize

log = logging.getLogger(__name__)


@dataclass
class Workload:
    """The prepared benchmark that every pipeline is scored on."""

    examples: list
    sources: list
    masks: list
    instructions: list
    compared_sources: list
    compared_targets: list
    size: tuple[int, int]
    scorer: object


def _model_metrics(entry: dict) -> dict:
    return {key: value for key, value in entry.items() if key not in ("examples", "counts")}


def _champion_rescorer(settings, resolution: int, workload: Workload, work_dir: Path):
    """Return a function that scores a registered version's pipeline on the same workload."""

    def rescore(version) -> dict | None:
        try:
            folder = download_pipeline(version, work_dir / f"v{version.version}")
        except (MlflowException, OSError) as error:
            log.warning("champion version %s: download of %s failed (%s)", version.version, version.source, error)
            return None
        if folder is None:
            log.warning("champion version %s: no model_index.json in %s", version.version, version.source)
            return None
        editor = InstructMoveEditor(folder, settings, resolution)
        edits = [resize_to(image, workload.size) for image in editor.edit(workload.sources, workload.instructions, workload.masks)]
        rows = score_method(INSTRUCTMOVE, workload.examples, workload.compared_sources, workload.compared_targets,
                            edits, workload.scorer)
        return _model_metrics(summarize(rows)[INSTRUCTMOVE])

    return rescore


def _clip_status(folder: str | None):
    try:
        scorer = load_clip(folder)
    except ClipUnavailable as reason:
        log.warning("CLIP metrics not computed: %s", reason)
        return None, {"computed": False, "reason": str(reason), "model": folder}
    return scorer, {"computed": True, "reason": None, "model": folder}


def _protocol_digest(path: Path, count: int, settings, size: tuple[int, int]) -> str:
    """Hash what makes two evaluations comparable: the benchmark rows, the inference settings and the scoring size."""
    digest = hashlib.sha256(path.read_bytes())
    protocol = {
        "examples": count, "crop": settings.crop, "seed": settings.seed, "steps": settings.num_inference_steps,
        "guidance_scale": settings.guidance_scale, "image_guidance_scale": settings.image_guidance_scale,
        "clip_model": settings.clip_model,
        # The editors seed each batch, so the batch size decides every example's starting noise.
        "batch_size": settings.batch_size,
        # Every metric is computed at the evaluated model's output size (width, height).
        "size": list(size),
    }
    digest.update(json.dumps(protocol, sort_keys=True).encode())
    return digest.hexdigest()


def _edit_all(editors, sources, instructions, masks) -> dict[str, list]:
    edits = {editor.name: editor.edit(sources, instructions, masks) for editor in editors}
    size = edits[INSTRUCTMOVE][0].size
    return {name: [resize_to(image, size) for image in images] for name, images in edits.items()}


def _write_grids(out_dir: Path, edits: dict, sources, targets, instructions, cell: int) -> list[Path]:
    paths = []
    for method, images in edits.items():
        grid = make_grid([("source", sources), (method, images), ("target", targets)], instructions, cell)
        path = out_dir / f"grid_{method}.png"
        grid.save(path)
        paths.append(path)
    columns = [("source", sources), *edits.items(), ("target", targets)]
    make_grid(columns, instructions, cell).save(out_dir / "grid.png")
    return [out_dir / "grid.png", *paths]


def _log_to_mlflow(rows: list[dict], summary: dict, grids: list[Path], decision: dict | None) -> None:
    mlflow.log_table(pd.DataFrame(rows), artifact_file="evaluation/per_example.json")
    table = pd.DataFrame([{"method": method, **{k: v for k, v in entry.items() if k != "counts"}} for method, entry in summary.items()])
    mlflow.log_table(table, artifact_file="evaluation/results.json")
    for path in grids:
        mlflow.log_artifact(str(path), artifact_path="evaluation")
    if decision is not None:
        mlflow.log_dict(decision, "evaluation/promotion.json")
        mlflow.set_tags({"promotion.promoted": str(decision["promoted"]).lower(),
                         "promotion.version": decision["version"], "promotion.reason": decision["reason"][:500]})


def _log_standalone_metrics(metrics: dict) -> None:
    # Under the flow, the runner logs metrics/evaluate.json to this run. A run started by
    # `dvc repro` or `dvc exp run` has no runner, so the stage logs the numbers itself.
    if not os.environ.get(tracking.RUN_ID_ENV):
        mlflow.log_metrics(tracking.numeric_metrics(metrics))


def _promote_model(params, summary: dict, benchmark_file: Path, workload: Workload, run_id: str) -> dict | None:
    settings = params.evaluate
    if not settings.promotion.enabled:
        log.info("promotion skipped: evaluate.promotion.enabled is false")
        return None
    client = MlflowClient()
    ref = resolve_model(client, Path(settings.pipeline_dir), settings.promotion.registered_model, run_id)
    digest = _protocol_digest(benchmark_file, len(workload.examples), settings, workload.size)
    with tempfile.TemporaryDirectory(prefix="champion-") as work_dir:
        rescore = _champion_rescorer(settings, params.model.resolution, workload, Path(work_dir))
        return promote(client, ref, _model_metrics(summary[INSTRUCTMOVE]), settings.promotion, digest, rescore)


def run(params) -> dict:
    """Evaluate the trained pipeline on the benchmark; return the metrics written to metrics/evaluate.json."""
    settings = params.evaluate
    benchmark_file = find_benchmark_file(settings.benchmark)
    examples = load_benchmark(benchmark_file)[: settings.max_examples]
    log.info("evaluating %d examples from %s", len(examples), benchmark_file)
    held_out = check_held_out(examples, layout.TRAIN_TABLE)

    sources = [load_view(example.source, settings.crop) for example in examples]
    masks = [load_mask_view(example.mask, settings.crop) if example.mask else None for example in examples]
    instructions = [example.instruction for example in examples]
    scorer, clip = _clip_status(settings.clip_model)
    out_dir = layout.EVALUATION_DIR
    out_dir.mkdir(parents=True, exist_ok=True)

    with tracking.stage_run("evaluate", params) as active:
        edits = _edit_all(build_editors(settings, params.model.resolution), sources, instructions, masks)
        size = edits[INSTRUCTMOVE][0].size
        compared_sources = [resize_to(image, size) for image in sources]
        compared_targets = [resize_to(load_view(e.target, settings.crop), size) if e.target else None for e in examples]

        workload = Workload(examples, sources, masks, instructions, compared_sources, compared_targets, size, scorer)
        rows = []
        for method, images in edits.items():
            rows += score_method(method, examples, compared_sources, compared_targets, images, scorer)
        summary = summarize(rows)

        context = {"benchmark": str(benchmark_file), "examples": len(examples), "resolution": size, "clip": clip}
        (out_dir / "results.md").write_text(results_markdown(summary, context))
        (out_dir / "per_example.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        grids = _write_grids(out_dir, edits, compared_sources, compared_targets, instructions, settings.grid_cell)

        decision = _promote_model(params, summary, benchmark_file, workload, active.info.run_id)
        (out_dir / "promotion.json").write_text(json.dumps(decision, indent=2) + "\n")
        _log_to_mlflow(rows, summary, grids, decision)

        metrics = {
            "examples": len(examples), "held_out_by_video": held_out, "resolution": list(size),
            "clip": clip, "methods": summary, "promotion": decision,
        }
        _log_standalone_metrics(metrics)

    path = layout.metrics_file("evaluate")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("wrote %s and %s", path, out_dir / "results.md")
    return metrics
