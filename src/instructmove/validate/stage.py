"""The `validate` stage: the quality gate between mined triplets and training.

Run it with `instructmove validate` (what `dvc repro -s validate` calls). It reads
`data/triplets.parquet` and the frames it names, runs the Great Expectations suites built in
`expectations.py`, and writes:

- `data/dataset/train.parquet`, `eval.parquet`: accepted triplets, split by video;
- `data/dataset/quarantine.parquet`: rows that failed a warning check, with their `reasons`;
- `data/dataset/benchmark/benchmark.jsonl`: the evaluation split in the benchmark format;
- `data/validation/summary.json` and the Data Docs HTML under `data/validation/gx/`;
- `metrics/validate.json`.

Only rows with status `ok` are candidates; declined and failed rows are counted, not checked.
A failed critical check raises StageError after the summary and the Data Docs are written.
"""

import logging
import os
from pathlib import Path

import mlflow
import pandas as pd

from instructmove import layout, tracking
from instructmove.errors import StageError
from instructmove.validate import derive, expectations, gate, verdict
from instructmove.validate.benchmark import write_benchmark
from instructmove.validate.frames import add_frame_columns
from instructmove.validate.report import ValidationReport, split_counts, write_metrics
from instructmove.validate.split import EVAL, TRAIN, assign_split

log = logging.getLogger(__name__)


def read_triplets(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise StageError(f"{path}: file not found. Run `instructmove instruct` (or `dvc repro -s instruct`) first.")
    return pd.read_parquet(path)


def _status_counts(triplets: pd.DataFrame) -> dict[str, int]:
    if "status" not in triplets.columns:
        return {"unknown": len(triplets)}
    return {str(key): int(value) for key, value in triplets["status"].value_counts(dropna=False).items()}


def _candidates(triplets: pd.DataFrame) -> pd.DataFrame:
    if "status" not in triplets.columns:
        return triplets.reset_index(drop=True)
    return triplets[triplets["status"] == "ok"].reset_index(drop=True)


def _stop_if_blocked(outcomes, table, settings, report: ValidationReport) -> None:
    failures = verdict.blocking_failures(outcomes, settings.critical)
    if not failures:
        return
    message = verdict.failure_message(failures, table, settings.failure_sample_rows, report.data_docs)
    report.failure = message
    report.write(layout.VALIDATION_DIR)
    raise StageError(message)


def _quarantine_rows(table: pd.DataFrame, reasons: dict[int, list[str]]) -> pd.DataFrame:
    rows = sorted(reasons)
    quarantined = table.iloc[rows].copy()
    quarantined["reasons"] = [reasons[row] for row in rows]
    return quarantined


def _run_phase(context, suite: str, checks: list, table: pd.DataFrame, settings,
               report: ValidationReport) -> dict[int, list[str]]:
    """Validate `table` with one suite; stop on a blocking failure, else return the quarantine reasons."""
    outcomes = gate.run_suite(context, suite, checks, table)
    report.expectations += verdict.check_summary(outcomes, suite, settings.critical)
    _stop_if_blocked(outcomes, table, settings, report)
    reasons = verdict.row_reasons(outcomes, table, settings.critical)
    report.count_reasons(reasons)
    return reasons


def validate_triplets(triplets: pd.DataFrame, params, root: Path | str = ".") -> dict:
    """Run the gate on a triplets table; return the split tables, quarantine and report.

    Frame paths are resolved against `root`; GX writes under `data/validation` in the working directory.
    """
    settings = params.validate_
    columns = list(triplets.columns)
    report = ValidationReport(
        suites=[expectations.TRIPLETS_SUITE, expectations.DATASET_SUITE],
        data_docs=str(layout.VALIDATION_DIR / gate.DATA_DOCS_INDEX),
        status_counts=_status_counts(triplets),
    )
    context = gate.open_context(layout.VALIDATION_DIR)

    candidates = derive.add_text_columns(derive.as_object_text(_candidates(triplets)))
    candidates = add_frame_columns(candidates, root, settings.decode_workers)
    report.candidates = len(candidates)
    row_reasons = _run_phase(context, expectations.TRIPLETS_SUITE,
                             expectations.triplet_expectations(settings, params.pairs), candidates, settings, report)

    passed = candidates.drop(index=list(row_reasons)).reset_index(drop=True)
    passed = assign_split(derive.add_rank_columns(passed), settings.eval_fraction, settings.seed)
    passed = derive.add_split_count_column(passed)
    dataset_reasons = _run_phase(context, expectations.DATASET_SUITE, expectations.dataset_expectations(settings),
                                 passed, settings, report)

    accepted = passed.drop(index=list(dataset_reasons))
    train = accepted[accepted["split"] == TRAIN][columns + ["split"]].reset_index(drop=True)
    evaluation = accepted[accepted["split"] == EVAL][columns + ["split"]].reset_index(drop=True)
    quarantine = pd.concat([_quarantine_rows(candidates, row_reasons), _quarantine_rows(passed, dataset_reasons)],
                           ignore_index=True).reindex(columns=columns + ["reasons"])

    report.quarantined = len(quarantine)
    report.splits = {TRAIN: split_counts(train), EVAL: split_counts(evaluation)}
    report.success = True
    return {"train": train, "eval": evaluation, "quarantine": quarantine, "report": report}


def write_outputs(result: dict, root: Path | str = ".") -> None:
    layout.DATASET_DIR.mkdir(parents=True, exist_ok=True)
    result["train"].to_parquet(layout.TRAIN_TABLE, index=False)
    result["eval"].to_parquet(layout.EVAL_TABLE, index=False)
    result["quarantine"].to_parquet(layout.QUARANTINE_TABLE, index=False)
    write_benchmark(result["eval"], layout.BENCHMARK_DIR, root)
    result["report"].write(layout.VALIDATION_DIR)
    write_metrics(result["report"])


def log_validation_artifacts() -> None:
    """Log summary.json and the Data Docs site to the active MLflow run, when they exist."""
    summary = layout.VALIDATION_DIR / "summary.json"
    site = (layout.VALIDATION_DIR / gate.DATA_DOCS_INDEX).parent
    if summary.is_file():
        mlflow.log_artifact(str(summary), artifact_path="validation")
    if site.is_dir():
        mlflow.log_artifacts(str(site), artifact_path="validation/data_docs")


def run(params) -> None:
    with tracking.stage_run("validate", params):
        triplets = read_triplets(layout.TRIPLETS_TABLE)
        log.info("validating %d triplets from %s", len(triplets), layout.TRIPLETS_TABLE)
        try:
            result = validate_triplets(triplets, params)
        except StageError:
            # The flow logs a stage's artefacts only when it succeeds, so a failed gate logs its own.
            log_validation_artifacts()
            raise
        write_outputs(result)

        report = result["report"]
        mlflow.log_table(pd.DataFrame(report.expectations), "validation/expectations.json")
        if not os.environ.get(tracking.RUN_ID_ENV):
            log_validation_artifacts()  # a standalone run has no flow to log them
        log.info("accepted %d triplets (%d train, %d eval), quarantined %d; Data Docs: %s",
                 len(result["train"]) + len(result["eval"]), len(result["train"]), len(result["eval"]),
                 report.quarantined, report.data_docs)
