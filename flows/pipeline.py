"""Prefect flow: run the six DVC stages in order, one task per stage, all logged to MLflow.

    python flows/pipeline.py                                   # the pipeline in this repository
    python flows/pipeline.py --set ingest.videos_dir=/footage  # change params.yaml first, then run
    python flows/pipeline.py --stages ingest pairs             # only these stages

With no Prefect server configured, Prefect starts a temporary local one. DVC skips stages
whose inputs did not change; every stage still gets a nested MLflow run under one parent run.
"""

import argparse
import logging
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from prefect import flow, get_run_logger, task
from prefect.context import get_run_context

from instructmove import tracking
from instructmove.config import load_params
from instructmove.logs import setup_logging
from instructmove.overrides import apply_overrides
from instructmove.runner import StageResult, run_stage


@task(name="dvc-stage", task_run_name="{stage}")
def stage_task(root: str, stage: str, experiment_id: str, parent_run_id: str) -> StageResult:
    params = load_params(Path(root) / "params.yaml")
    return run_stage(Path(root), stage, params, experiment_id, parent_run_id)


def _flow_run_id() -> str:
    try:
        return str(get_run_context().flow_run.id)
    except Exception:  # outside a Prefect run context, e.g. when called with .fn()
        return "none"


@flow(name="instructmove-pipeline")
def pipeline(root: str = ".", stages: list[str] | None = None, overrides: list[str] | None = None) -> list[StageResult]:
    """Validate params.yaml, then reproduce the stages in order under one MLflow parent run."""
    logger = get_run_logger()
    root_path = Path(root).resolve()
    apply_overrides(root_path / "params.yaml", overrides or [])
    params = load_params(root_path / "params.yaml")
    requested = list(stages or tracking.STAGES)
    unknown = sorted(set(requested) - set(tracking.STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {list(tracking.STAGES)}")
    # Stages always run in pipeline order, whatever order they were named in.
    stages = [stage for stage in tracking.STAGES if stage in requested]

    experiment_id = tracking.configure(params.tracking, root_path)
    client = MlflowClient()
    parent = client.create_run(
        experiment_id,
        run_name="pipeline",
        tags={
            MLFLOW_RUN_NAME: "pipeline",
            "instructmove.flow": "pipeline",
            "prefect.flow_run_id": _flow_run_id(),
            **tracking.common_tags(root_path),
        },
    )
    parent_id = parent.info.run_id
    logger.info("MLflow parent run %s in experiment %r", parent_id, params.tracking.experiment)

    configured = stage_task.with_options(retries=params.flow.retries, retry_delay_seconds=params.flow.retry_delay_s)
    results: list[StageResult] = []
    try:
        for stage in stages:
            results.append(configured(str(root_path), stage, experiment_id, parent_id))
    except BaseException as error:
        client.set_tag(parent_id, "instructmove.error", f"{type(error).__name__}: {error}"[:5000])
        client.set_terminated(parent_id, status="FAILED")
        raise

    ran = [result.stage for result in results if result.ran]
    client.set_tag(parent_id, "instructmove.stages_ran", ",".join(ran) or "none")
    client.set_terminated(parent_id, status="FINISHED")
    logger.info("pipeline finished: ran %s, skipped %s", ran or "nothing",
                [result.stage for result in results if not result.ran] or "nothing")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the instructmove pipeline with Prefect.")
    parser.add_argument("--root", default=".", help="repository root containing dvc.yaml and params.yaml")
    parser.add_argument("--stages", nargs="*", default=None, help="stages to run (default: all, in order)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="write a value to params.yaml before running")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        pipeline(root=args.root, stages=args.stages, overrides=args.overrides)
    except Exception as error:
        logging.getLogger("instructmove").error("pipeline failed: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
