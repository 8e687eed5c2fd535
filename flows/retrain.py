"""Prefect flow: add new videos to the corpus, rerun the stale stages, retrain when enough new pairs exist.

    python flows/retrain.py                          # one run now, with the `retrain` section of params.yaml
    python flows/retrain.py --inbox /new/footage     # take new videos from this folder instead
    python flows/retrain.py --serve                  # serve the deployment on its cron schedule

One run takes the lock of the project, copies new videos into `ingest.videos_dir` (atomically),
lets DVC rerun the stale data stages, and trains and evaluates only when at least
`retrain.min_new_pairs` accepted pairs are new since the last training. A failed run removes the
videos it added, so the corpus and the champion stay as they were. An interrupted run leaves its
videos in the corpus, and the next run continues from the stages DVC already finished.
"""

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

from dvc.repo import Repo
from prefect import flow, get_run_logger, task
from prefect.context import get_run_context

from instructmove import tracking
from instructmove.config import Params, load_params
from instructmove.logs import setup_logging
from instructmove.retrain.intake import add_new_videos, resolve
from instructmove.retrain.lock import RunLock
from instructmove.retrain.outcome import RetrainOutcome, finish_run, publish_artifact, start_run
from instructmove.retrain.start import describe_init, promotion_result
from instructmove.retrain.state import (
    LOCK_FILE, accepted_pair_ids, commit_pending, load_state, new_pair_ids, roll_back_pending,
)
from instructmove.runner import StageResult, run_stage

DATA_STAGES = ("ingest", "pairs", "instruct", "validate")
MODEL_STAGES = ("train", "evaluate")


@task(name="dvc-stage", task_run_name="{stage}")
def stage_task(root: str, stage: str, experiment_id: str, parent_run_id: str) -> StageResult:
    params = load_params(Path(root) / "params.yaml")
    return run_stage(Path(root), stage, params, experiment_id, parent_run_id)


@task(name="add-videos")
def add_videos(root: str, inbox_dir: str | None, manifest: str | None) -> list[str]:
    """Copy the inbox videos whose content is not in the corpus yet into it, atomically."""
    params = load_params(Path(root) / "params.yaml")
    added = add_new_videos(Path(root), params, inbox_dir, manifest)
    for source, target in added:
        get_run_logger().info("added %s to the corpus as %s", source, target)
    return [target for _, target in added]


def _champion_version(params: Params) -> str:
    """Return the registry version behind the `champion` alias, or 'none'."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return str(MlflowClient().get_model_version_by_alias(params.train.registered_model_name, "champion").version)
    except MlflowException:
        return "none"


def _stale_stages(root: Path, stages: tuple[str, ...]) -> list[str]:
    with contextlib.chdir(root), Repo(".") as repo:
        status = repo.status(targets=list(stages))
    return [stage for stage in stages if stage in status]


def _flow_run_id() -> str:
    try:
        return str(get_run_context().flow_run.id)
    except Exception:  # outside a Prefect run context, e.g. when called with .fn()
        return "none"


def _run_stages(root: Path, params: Params, stages, experiment_id: str, result: RetrainOutcome) -> None:
    """Run the stages in order; record each one DVC executed as soon as it finishes."""
    configured = stage_task.with_options(retries=params.flow.retries, retry_delay_seconds=params.flow.retry_delay_s)
    for stage in stages:
        if configured(str(root), stage, experiment_id, result.mlflow_run_id).ran:
            result.stages_ran.append(stage)


def _retrain_locked(root: Path, params: Params, result: RetrainOutcome, experiment_id: str, sources: dict) -> None:
    """Do the work of one run while holding the lock; fill `result` as it goes."""
    logger = get_run_logger()
    settings = params.retrain
    state_dir = resolve(root, settings.state_dir)

    added = add_videos(str(root), sources["inbox_dir"], sources["manifest"])
    state = load_state(state_dir)
    result.added = list(state.pending)
    if added:
        logger.info("%d new video(s) added to the corpus", len(added))
    if state.pending and len(state.pending) > len(added):
        logger.info("resuming: %d video(s) added by an earlier run that did not finish", len(state.pending) - len(added))

    if not state.pending and not _stale_stages(root, DATA_STAGES):
        new_pairs = len(new_pair_ids(root, state))
        if new_pairs < settings.min_new_pairs:
            result.outcome = "nothing_new"
            result.reason = (f"nothing new: no new video in {sources['inbox_dir'] or sources['manifest']}, the data "
                             f"stages are up to date, and {new_pairs} accepted pair(s) are new since the last "
                             f"training (retrain.min_new_pairs={settings.min_new_pairs})")
            return

    _run_stages(root, params, DATA_STAGES, experiment_id, result)
    result.new_pairs = len(new_pair_ids(root, state))
    if result.new_pairs < settings.min_new_pairs:
        commit_pending(state_dir)
        result.outcome = "not_enough_new_pairs"
        result.reason = (f"{result.new_pairs} accepted pair(s) are new since the last training, fewer than "
                         f"retrain.min_new_pairs={settings.min_new_pairs}; the new videos stay in the corpus "
                         "and count towards the next run")
        return

    trained_pairs = sorted(accepted_pair_ids(root))
    logger.info("%d new accepted pair(s); training (%s)", result.new_pairs, describe_init(params))
    _run_stages(root, params, MODEL_STAGES, experiment_id, result)
    result.promoted, verdict = promotion_result(root)
    commit_pending(state_dir, trained_pairs=trained_pairs)
    result.outcome = "retrained"
    result.reason = f"{result.new_pairs} new accepted pair(s) (retrain.min_new_pairs={settings.min_new_pairs}); {verdict}"


@flow(name="instructmove-retrain")
def retrain(root: str = ".", inbox_dir: str | None = None, manifest: str | None = None) -> RetrainOutcome:
    """Add new videos, rerun the stale stages, and retrain and evaluate when enough new pairs exist."""
    logger = get_run_logger()
    started = time.perf_counter()
    root_path = Path(root).resolve()
    params = load_params(root_path / "params.yaml")
    settings = params.retrain
    sources = {"inbox_dir": inbox_dir or settings.inbox_dir, "manifest": manifest or settings.manifest}
    state_dir = resolve(root_path, settings.state_dir)
    experiment_id = tracking.configure(params.tracking, root_path)
    result = RetrainOutcome(outcome="failed", reason="", prefect_flow_run_id=_flow_run_id())

    lock = RunLock(state_dir / LOCK_FILE)
    if not lock.acquire(settings.lock_wait_s):
        result.outcome = "busy"
        result.reason = (f"another retrain run holds {lock.path} ({lock.holder()}) after waiting "
                         f"{settings.lock_wait_s} s (retrain.lock_wait_s); this run changed nothing")
        result.mlflow_run_id = start_run(experiment_id, root_path, result.prefect_flow_run_id)
        logger.warning("%s", result.reason)
        result.seconds = time.perf_counter() - started
        finish_run(result, state_dir)
        publish_artifact(result)
        return result

    with lock:
        result.mlflow_run_id = start_run(experiment_id, root_path, result.prefect_flow_run_id)
        logger.info("retrain run: MLflow run %s, corpus %s", result.mlflow_run_id, params.ingest.videos_dir)
        champion = _champion_version(params)
        try:
            _retrain_locked(root_path, params, result, experiment_id, sources)
        except BaseException as error:
            removed = roll_back_pending(state_dir)
            now = _champion_version(params)
            champion_note = (f"the champion is still version {champion}" if now == champion
                             else f"the champion moved from version {champion} to {now} before the failure")
            result.outcome = "failed"
            result.reason = (f"{type(error).__name__}: {error}; removed the {len(removed)} video(s) this run "
                             f"added; {champion_note}")
            result.seconds = time.perf_counter() - started
            finish_run(result, state_dir, error=error)
            logger.error("retrain failed: %s", result.reason)
            raise
        result.seconds = time.perf_counter() - started
        finish_run(result, state_dir)

    logger.info("retrain %s in %.1f s: %s", result.outcome, result.seconds, result.reason)
    publish_artifact(result)
    return result


def serve(root: Path) -> None:
    """Register the deployment with the cron schedule of params.yaml and run its scheduled flow runs."""
    from prefect.schedules import Cron

    settings = load_params(root / "params.yaml").retrain
    retrain.serve(
        name=settings.deployment,
        schedules=[Cron(settings.cron, timezone=settings.timezone)],
        parameters={"root": str(root)},
        global_limit=1,
        description="Add new videos from the inbox, rerun stale stages, retrain when enough new pairs exist.",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Add new videos and retrain the instructmove model with Prefect.")
    parser.add_argument("--root", default=".", help="repository root containing dvc.yaml and params.yaml")
    parser.add_argument("--inbox", default=None, help="folder with new videos (default: retrain.inbox_dir)")
    parser.add_argument("--manifest", default=None, help="text file, one video path per line (default: retrain.manifest)")
    parser.add_argument("--serve", action="store_true", help="serve the scheduled deployment until interrupted")
    args = parser.parse_args(argv)
    setup_logging()
    root = Path(args.root).resolve()
    if args.serve:
        serve(root)
        return 0
    try:
        outcome = retrain(root=str(root), inbox_dir=args.inbox, manifest=args.manifest)
    except Exception as error:
        logging.getLogger("instructmove").error("retrain failed: %s", error)
        return 1
    print(f"{outcome.outcome}: {outcome.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
