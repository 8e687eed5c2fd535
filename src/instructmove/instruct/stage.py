"""The `instruct` stage: write one editing instruction per frame pair.

    instructmove instruct          # what `dvc repro -s instruct` runs

Reads data/pairs/pairs.parquet and writes data/triplets.parquet and metrics/instruct.json.
`instruct.backend: flow` writes instructions offline from the pair's motion statistics;
`instruct.backend: openai` asks any OpenAI-compatible multimodal model, through a response cache
on disk (`instruct.cache_dir`), so a rerun or a resumed run only requests the missing answers.
"""

import json
import logging
import os

import mlflow
import pandas as pd

from instructmove import layout, tracking
from instructmove.instruct import flow_writer
from instructmove.instruct.report import check_failure_rate, dominant_errors, summarise
from instructmove.instruct.settings import InstructSettings
from instructmove.instruct.table import build_triplets, read_pairs, write_triplets

log = logging.getLogger(__name__)

SAMPLE_ROWS = 20


def run(params) -> dict:
    """Run the stage with the loaded params; return the metrics it wrote."""
    settings: InstructSettings = params.instruct
    pairs = read_pairs(layout.PAIRS_TABLE)
    log.info("instruct: %d pairs from %s, backend %s", len(pairs), layout.PAIRS_TABLE, settings.backend)

    with tracking.stage_run("instruct", params):
        results, run_stats = write_results(pairs, settings)
        triplets = build_triplets(pairs, results)
        write_triplets(triplets, layout.TRIPLETS_TABLE)

        metrics = summarise(triplets, settings, run_stats)
        metrics_path = layout.metrics_file("instruct")
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
        log.info("instruct: backend %s wrote %s: %s", settings.backend, layout.TRIPLETS_TABLE, metrics["status"])

        log_to_mlflow(triplets, settings, metrics)
        check_failure_rate(triplets, settings, cache_note=resume_note(settings))
    return metrics


def write_results(pairs: pd.DataFrame, settings: InstructSettings) -> tuple[dict[str, dict], dict]:
    """Write a result row per pair with the configured backend; return the rows and run counters."""
    records = pairs.to_dict("records")
    if settings.executor == "dask":
        from instructmove.instruct.distributed import write_on_dask

        return write_on_dask(records, settings)
    if settings.backend == "flow":
        return flow_writer.write_all(records, settings.flow, settings.seed), {}

    from instructmove.instruct.mllm_backend import instruct_pairs

    return instruct_pairs(records, settings)


def resume_note(settings: InstructSettings) -> str:
    """Tell the user how a rerun treats the pairs that failed."""
    if settings.backend == "flow":
        return "Check the pairs table."
    return (
        f"Answers received so far are cached in {settings.cache_dir}; fix the cause and rerun: "
        "only the missing and failed pairs are requested again."
    )


def log_to_mlflow(triplets: pd.DataFrame, settings: InstructSettings, metrics: dict) -> None:
    """Log the backend tags, sample rows and the failures; metrics too when no flow run logs them."""
    mlflow.set_tags({
        "instruct.backend": settings.backend,
        "instruct.model": triplets["model"].iloc[0] if len(triplets) else settings.model,
        "instruct.prompt_version": triplets["prompt_version"].iloc[0] if len(triplets) else settings.prompt_version,
    })
    if not os.environ.get(tracking.RUN_ID_ENV):
        mlflow.log_metrics(tracking.numeric_metrics(metrics))

    columns = ["pair_id", "status", "instruction", "edit_type", "subject", "caption_before", "caption_after"]
    if len(triplets):
        sample = triplets[columns].head(SAMPLE_ROWS).astype(str)
        mlflow.log_table(data=sample, artifact_file="instruct/samples.json")

    failed = triplets[triplets["status"] == "failed"]
    if len(failed):
        report = {
            "dominant_errors": dict(dominant_errors(triplets, top=10)),
            "failed_pairs": failed[["pair_id", "error"]].head(200).astype(str).to_dict("records"),
        }
        mlflow.log_dict(report, "instruct/failures.json")
