"""The Prefect flow runs all six DVC stages on real clips and records them in MLflow."""

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers_project import FAST_CLIPS, make_project
from instructmove import layout, tracking

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory, shared_videos):
    """Run the flow twice in one throwaway project; return the project root and both results."""
    from flows.pipeline import pipeline

    root = make_project(tmp_path_factory.mktemp("project"), [shared_videos / name for name in FAST_CLIPS])
    first = pipeline(root=str(root))
    second = pipeline(root=str(root))
    return root, first, second


def _client(root: Path) -> MlflowClient:
    mlflow.set_tracking_uri(tracking.resolve_uri("sqlite:///mlflow.db", root))
    return MlflowClient()


def test_every_clip_yields_pairs(pipeline_runs):
    root, _, _ = pipeline_runs
    pairs = pd.read_parquet(root / layout.PAIRS_TABLE)
    videos = pd.read_parquet(root / layout.VIDEOS_TABLE)
    ok_videos = set(videos.loc[videos.status == "ok", "video_id"])
    assert len(ok_videos) == len(FAST_CLIPS)
    assert set(pairs.video_id) == ok_videos


def test_every_pair_has_instruction(pipeline_runs):
    root, _, _ = pipeline_runs
    pairs = pd.read_parquet(root / layout.PAIRS_TABLE)
    triplets = pd.read_parquet(root / layout.TRIPLETS_TABLE)
    assert set(triplets.pair_id) == set(pairs.pair_id)
    ok = triplets[triplets.status == "ok"]
    assert len(ok) == len(pairs)
    assert ok.instruction.str.len().min() > 0


def test_outputs_exist(pipeline_runs):
    root, _, _ = pipeline_runs
    assert (root / layout.VALIDATION_DIR / "summary.json").is_file()
    assert (root / layout.CHECKPOINT_DIR / "last.ckpt").is_file()
    assert (root / layout.PIPELINE_DIR).is_dir()
    metrics = json.loads((root / layout.metrics_file("evaluate")).read_text())
    assert "psnr" in json.dumps(metrics).lower()
    assert (root / layout.EVALUATION_DIR / "grid.png").is_file()


def test_first_run_executes_all_stages(pipeline_runs):
    _, first, _ = pipeline_runs
    assert [result.stage for result in first] == list(tracking.STAGES)
    assert all(result.ran for result in first)


def test_second_run_executes_nothing(pipeline_runs):
    _, _, second = pipeline_runs
    assert [result.stage for result in second] == list(tracking.STAGES)
    assert not any(result.ran for result in second)


def test_parent_run_has_six_nested_runs(pipeline_runs):
    root, first, second = pipeline_runs
    client = _client(root)
    for results, status in ((first, "ran"), (second, "skipped")):
        runs = [client.get_run(result.run_id) for result in results]
        parents = {run.data.tags["mlflow.parentRunId"] for run in runs}
        assert len(parents) == 1
        parent = client.get_run(parents.pop())
        assert parent.info.status == "FINISHED"
        assert [run.data.tags["instructmove.status"] for run in runs] == [status] * 6
        assert all(run.data.tags["dvc.lock_hash"] != "none" for run in runs)
        assert all(run.data.tags["git.commit"] != "unknown" for run in runs)


def test_stage_runs_carry_params_and_metrics(pipeline_runs):
    root, first, _ = pipeline_runs
    client = _client(root)
    pairs_run = client.get_run(next(r.run_id for r in first if r.stage == "pairs"))
    assert "pairs.gap_s" in pairs_run.data.params
    assert pairs_run.data.metrics
