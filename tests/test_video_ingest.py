"""The ingest stage on broken, odd and duplicate files, with real decord in isolated workers."""

import json
import shutil

import pandas as pd
import pytest

from helpers_video import corrupt_clip, ffmpeg, make_params, mlflow_store, motion_clip, probe_or_crash  # noqa: F401
from instructmove import layout
from instructmove.errors import StageError
from instructmove.video import ingest


@pytest.fixture
def videos(tmp_path, monkeypatch):
    """A videos folder with one good clip and one file of each broken kind."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    good = motion_clip(folder / "good.mp4")

    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n")
    (folder / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(folder / "audio_only.m4v"))
    motion_clip(folder / "tiny.mp4", size=(32, 24))
    motion_clip(folder / "blink.mp4", seconds=0.2)
    shutil.copy(good, folder / "nested_copy.mp4")
    (folder / "notes.txt").write_text("not scanned")
    return folder


def _by_name(table: pd.DataFrame) -> dict:
    return {path.rsplit("/", 1)[-1]: row for path, row in zip(table["path"], table.to_dict("records"), strict=True)}


def test_each_broken_file_gets_reason(videos, tmp_path):
    table, counters = ingest.build_table(make_params(tmp_path, videos).ingest)
    rows = _by_name(table)

    assert rows["good.mp4"]["status"] == "ok"
    assert rows["empty.mp4"]["reject_reason"] == "unreadable"
    assert rows["text.mp4"]["reject_reason"] == "unreadable"
    assert rows["truncated.mp4"]["reject_reason"] == "unreadable"
    assert rows["audio_only.m4v"]["reject_reason"] == "no video stream"
    assert rows["tiny.mp4"]["reject_reason"] == "too small"
    assert rows["blink.mp4"]["reject_reason"] == "too short"
    assert rows["nested_copy.mp4"]["reject_reason"] == "duplicate"
    assert "notes.txt" not in rows
    assert counters["ignored_files"] == 1


def test_rejects_keep_a_message(videos, tmp_path):
    table, _ = ingest.build_table(make_params(tmp_path, videos).ingest)
    rejected = table[table["status"] == "rejected"]

    assert len(rejected) == 7
    assert rejected["reject_message"].str.len().min() > 5


def test_probe_facts_of_good_clip(videos, tmp_path):
    table, _ = ingest.build_table(make_params(tmp_path, videos).ingest)
    good = _by_name(table)["good.mp4"]

    assert (good["width"], good["height"]) == (160, 128)
    assert good["num_frames"] == 30
    assert good["duration_s"] == pytest.approx(3.0, abs=0.01)
    assert good["fps"] == pytest.approx(10.0, abs=0.01)
    assert good["rotation"] == 0
    assert len(good["video_id"]) == 16


def test_probe_cache_skips_decoding(videos, tmp_path):
    settings = make_params(tmp_path, videos).ingest
    _, first = ingest.build_table(settings)
    _, second = ingest.build_table(settings)

    # The duplicate shares its content hash with good.mp4, so 7 files are probed.
    assert first["probed"] == 7
    assert second["probed"] == 0
    assert second["probe_cache_hits"] == 7


def test_corrupt_stream_is_rejected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    source = motion_clip(tmp_path / "source.mp4", seconds=4)
    corrupt_clip(source, folder / "damaged.mp4", 0.1, 0.95)
    table, _ = ingest.build_table(make_params(tmp_path, folder).ingest)
    row = table.iloc[0]

    assert row["reject_reason"] == "corrupt frames"
    assert "decode" in row["reject_message"]


def test_damaged_tail_trusts_decoded_frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    source = motion_clip(tmp_path / "source.mp4", seconds=4)
    # With the index at the front (faststart), damaging the last packets leaves the file readable.
    ffmpeg("-i", str(source), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "faststart.mp4"))
    corrupt_clip(tmp_path / "faststart.mp4", folder / "tail.mp4", 0.85, 1.0)
    table, _ = ingest.build_table(make_params(tmp_path, folder).ingest)
    row = table.iloc[0]

    assert row["status"] == "ok", row["reject_message"]
    assert row["header_num_frames"] == 40
    assert row["num_frames"] < 40
    assert row["duration_s"] == pytest.approx(row["num_frames"] / 10.0, abs=0.01)


def test_decoder_crash_costs_one_file(videos, tmp_path):
    motion_clip(videos / "crash_me.mp4", seed=5)
    table, _ = ingest.build_table(make_params(tmp_path, videos).ingest, probe=probe_or_crash)
    rows = _by_name(table)

    assert rows["crash_me.mp4"]["reject_reason"] == "decoder crash"
    assert "SIGKILL" in rows["crash_me.mp4"]["reject_message"]
    assert rows["good.mp4"]["status"] == "ok"


def test_hanging_decoder_times_out(videos, tmp_path):
    motion_clip(videos / "hang_me.mp4", seed=6)
    params = make_params(tmp_path, videos)
    params.ingest.timeout_s = 3.0
    table, _ = ingest.build_table(params.ingest, probe=probe_or_crash)
    rows = _by_name(table)

    assert rows["hang_me.mp4"]["reject_reason"] == "decode timeout"
    assert rows["good.mp4"]["status"] == "ok"


def test_stage_writes_table_and_metrics(videos, mlflow_store):
    ingest.run(make_params(mlflow_store, videos))
    table = pd.read_parquet(layout.VIDEOS_TABLE)
    metrics = json.loads(layout.metrics_file("ingest").read_text())

    assert list(table.columns) == ingest.COLUMNS
    assert metrics["files"] == 8
    assert metrics["ok"] == 1
    assert metrics["rejects"]["unreadable"] == 3
    assert metrics["rejects"]["duplicate"] == 1


def test_missing_folder_names_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = make_params(tmp_path, tmp_path / "absent")

    with pytest.raises(StageError, match="ingest.videos_dir"):
        ingest.build_table(params.ingest)
