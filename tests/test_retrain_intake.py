"""Inbox intake and the run lock of the retrain flow, on real files and real processes."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from instructmove.config import ConfigError, parse_params
from instructmove.errors import StageError
from instructmove.retrain import inbox
from instructmove.retrain.lock import RunLock

EXTENSIONS = [".mp4", ".mov"]


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_known_content_is_not_new(tmp_path):
    corpus_dir = tmp_path / "corpus"
    _write(corpus_dir / "a.mp4", b"clip a")
    candidates = [_write(tmp_path / "inbox" / "renamed.mp4", b"clip a"), _write(tmp_path / "inbox" / "b.mp4", b"clip b")]

    additions = inbox.plan_additions(candidates, inbox.list_videos(corpus_dir, EXTENSIONS), corpus_dir, inbox.HashCache())

    assert [addition.source.name for addition in additions] == ["b.mp4"]
    assert additions[0].target == corpus_dir / "b.mp4"


def test_duplicate_candidates_added_once(tmp_path):
    first = _write(tmp_path / "inbox" / "x.mp4", b"same")
    second = _write(tmp_path / "inbox" / "sub" / "y.mp4", b"same")
    additions = inbox.plan_additions([first, second], [], tmp_path / "corpus", inbox.HashCache())
    assert len(additions) == 1


def test_name_clash_gets_hash_suffix(tmp_path):
    corpus_dir = tmp_path / "corpus"
    _write(corpus_dir / "clip.mp4", b"old content")
    candidate = _write(tmp_path / "inbox" / "clip.mp4", b"new content")

    additions = inbox.plan_additions([candidate], inbox.list_videos(corpus_dir, EXTENSIONS), corpus_dir, inbox.HashCache())

    digest = inbox.sha256_file(candidate)
    assert additions[0].target.name == f"clip-{digest[:8]}.mp4"


def test_hash_cache_rehashes_changed_file(tmp_path):
    path = _write(tmp_path / "v.mp4", b"one")
    cache = inbox.HashCache()
    first = cache.digest(path)
    time.sleep(0.01)
    path.write_bytes(b"two, longer")
    assert cache.digest(path) != first
    assert cache.digest(path) == inbox.sha256_file(path)


def test_copy_leaves_no_partial_on_error(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    with pytest.raises(OSError):
        inbox.copy_atomically(tmp_path / "missing.mp4", corpus_dir / "missing.mp4")
    assert list(corpus_dir.iterdir()) == []


def test_copy_is_complete(tmp_path):
    source = _write(tmp_path / "in" / "v.mp4", bytes(range(256)) * 4096)
    target = tmp_path / "corpus" / "v.mp4"
    inbox.copy_atomically(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert [path.name for path in target.parent.iterdir()] == ["v.mp4"]


def test_partials_are_removed_and_not_listed(tmp_path):
    corpus_dir = tmp_path / "corpus"
    leftover = _write(corpus_dir / ".v.mp4.123.partial", b"half")
    _write(corpus_dir / "ok.mp4", b"whole")
    assert [path.name for path in inbox.list_videos(corpus_dir, EXTENSIONS)] == ["ok.mp4"]
    assert inbox.remove_partials(corpus_dir) == [leftover]
    assert not leftover.exists()


def test_manifest_resolves_and_skips(tmp_path, caplog):
    video = _write(tmp_path / "footage" / "v.mp4", b"v")
    manifest = tmp_path / "footage" / "manifest.txt"
    manifest.write_text(f"# new footage\nv.mp4\n{tmp_path / 'gone.mp4'}\nnotes.txt\n\n")
    _write(tmp_path / "footage" / "notes.txt", b"text")

    assert inbox.read_manifest(manifest, EXTENSIONS) == [video]
    assert "gone.mp4 not found" in caplog.text
    assert "not one of ingest.extensions" in caplog.text


def test_missing_manifest_names_key(tmp_path):
    with pytest.raises(StageError, match="retrain.manifest"):
        inbox.read_manifest(tmp_path / "absent.txt", EXTENSIONS)


def test_settings_reject_bad_cron():
    with pytest.raises(ConfigError, match="retrain.cron"):
        parse_params({"retrain": {"cron": "every night"}})


def test_settings_need_a_source():
    with pytest.raises(ConfigError, match="inbox_dir or manifest"):
        parse_params({"retrain": {"inbox_dir": None, "manifest": None}})


HOLD_LOCK = """
import sys, time
from pathlib import Path
from instructmove.retrain.lock import RunLock
lock = RunLock(Path(sys.argv[1]))
assert lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_lock_excludes_other_process(tmp_path):
    path = tmp_path / "state" / "lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = RunLock(path)
        assert not lock.acquire(wait_s=0.6)
        assert f"pid {holder.pid}" in lock.holder()
    finally:
        holder.kill()
        holder.wait()

    # The kernel drops the lock of a killed process, so no stale lock survives it.
    lock = RunLock(path)
    assert lock.acquire()
    lock.release()


def test_failed_intake_is_recorded(tmp_path):
    import json

    import mlflow
    from mlflow.tracking import MlflowClient

    from flows.retrain import retrain

    (tmp_path / "params.yaml").write_text(
        "retrain:\n  inbox_dir: null\n  manifest: missing.txt\n"
        f"tracking:\n  uri: sqlite:///{tmp_path / 'mlflow.db'}\n  artifact_dir: {tmp_path / 'mlruns'}\n"
    )

    state = retrain(root=str(tmp_path), return_state=True)

    assert state.is_failed()
    assert "retrain.manifest" in state.message
    last_run = json.loads((tmp_path / ".cache" / "retrain" / "last_run.json").read_text())
    assert last_run["outcome"] == "failed"
    assert "the champion is still version none" in last_run["reason"]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = MlflowClient().get_run(last_run["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert "retrain.manifest" in run.data.tags["instructmove.error"]
