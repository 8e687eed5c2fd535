"""The result of one retrain run, recorded in MLflow, in the state folder and as a Prefect artifact."""

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from instructmove import tracking
from instructmove.retrain.state import LAST_RUN_FILE, write_json

log = logging.getLogger(__name__)

# Outcomes of a run: `busy` (another run held the lock), `nothing_new`, `not_enough_new_pairs`,
# `retrained`, `failed`.
OUTCOMES = ("busy", "nothing_new", "not_enough_new_pairs", "retrained", "failed")


@dataclass
class RetrainOutcome:
    outcome: str
    reason: str
    added: list[str] = field(default_factory=list)
    new_pairs: int = 0
    stages_ran: list[str] = field(default_factory=list)
    promoted: bool | None = None
    mlflow_run_id: str = ""
    prefect_flow_run_id: str = "none"
    seconds: float = 0.0


def start_run(experiment_id: str, root: Path, flow_run_id: str) -> str:
    """Create the parent MLflow run of a retrain run; stage runs nest under it."""
    run = MlflowClient().create_run(
        experiment_id,
        run_name="retrain",
        tags={
            MLFLOW_RUN_NAME: "retrain",
            "instructmove.flow": "retrain",
            "prefect.flow_run_id": flow_run_id,
            **tracking.common_tags(root),
        },
    )
    return run.info.run_id


def finish_run(result: RetrainOutcome, state_dir: Path, error: BaseException | None = None) -> None:
    """Tag the MLflow run with the outcome and reason, end it, and write last_run.json."""
    client = MlflowClient()
    tags = [
        RunTag("instructmove.retrain.outcome", result.outcome),
        RunTag("instructmove.retrain.reason", result.reason[:5000]),
        RunTag("instructmove.retrain.added", ",".join(result.added)[:5000] or "none"),
        RunTag("instructmove.stages_ran", ",".join(result.stages_ran) or "none"),
    ]
    if error is not None:
        tags.append(RunTag("instructmove.error", f"{type(error).__name__}: {error}"[:5000]))
    now = int(time.time() * 1000)
    metrics = [
        Metric("retrain.new_videos", len(result.added), now, 0),
        Metric("retrain.new_pairs", result.new_pairs, now, 0),
        Metric("retrain.seconds", result.seconds, now, 0),
    ]
    if result.promoted is not None:
        metrics.append(Metric("retrain.promoted", float(result.promoted), now, 0))
    client.log_batch(result.mlflow_run_id, metrics=metrics, tags=tags)
    client.set_terminated(result.mlflow_run_id, status="FAILED" if error is not None else "FINISHED")
    write_json(state_dir / LAST_RUN_FILE, {**asdict(result), "finished_at": time.time()})


def publish_artifact(result: RetrainOutcome) -> None:
    """Show the outcome on the flow run's Artifacts tab in the Prefect UI."""
    from prefect.artifacts import create_markdown_artifact

    lines = [
        f"**outcome**: `{result.outcome}`",
        "",
        f"**reason**: {result.reason}",
        "",
        f"- new videos: {len(result.added)} {result.added or ''}",
        f"- new validated pairs: {result.new_pairs}",
        f"- stages DVC ran: {', '.join(result.stages_ran) or 'none'}",
        f"- promoted to champion: {result.promoted}",
        f"- MLflow run: `{result.mlflow_run_id}`",
    ]
    create_markdown_artifact("\n".join(lines), key="retrain-outcome", description="why this run did or did not retrain")
