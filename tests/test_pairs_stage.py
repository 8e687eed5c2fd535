"""The pairs stage end to end on synthetic clips: outputs, funnel, cache, crashes, VFR and rotation."""

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers_video import (  # noqa: F401
    corrupt_clip, ffmpeg, make_params, mine_or_exit, mlflow_store, motion_clip, moving_square_frame, static_clip, write_clip,
)
from instructmove import layout
from instructmove.pairs import stage
from instructmove.video import ingest


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with a videos folder holding one moving and one static clip."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    motion_clip(folder / "moving.mp4", seed=1)
    static_clip(folder / "still.mp4", seed=2)
    return folder


def _mine(params, mine=None):
    """Run ingest without MLflow, then the pairs steps; return the table, metrics and results."""
    table, _ = ingest.build_table(params.ingest)
    layout.VIDEOS_TABLE.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(layout.VIDEOS_TABLE, index=False)

    videos = stage.read_videos()
    kwargs = {"mine": mine} if mine else {}
    results, failures, fresh = stage.mine_all(videos, params.pairs, **kwargs)
    key = stage.cache.settings_key(params.pairs.mining_values())
    pairs = stage.write_pairs(videos, results, key)
    return pairs, stage.funnel(videos, results, failures, fresh)


def test_moving_clip_gives_pairs(project, tmp_path):
    pairs, metrics = _mine(make_params(tmp_path, project))
    videos = pd.read_parquet(layout.VIDEOS_TABLE).set_index("video_id")
    names = {video_id: videos.loc[video_id, "path"].rsplit("/", 1)[-1] for video_id in pairs["video_id"]}

    assert len(pairs) > 0
    assert set(names.values()) == {"moving.mp4"}
    assert metrics["rejects"]["too little motion"] > 0


def test_funnel_adds_up(project, tmp_path):
    _, metrics = _mine(make_params(tmp_path, project))

    assert metrics["candidates"] == sum(metrics["rejects"].values()) + metrics["pairs"]
    assert metrics["videos"] == 2


def test_pairs_table_follows_contract(project, tmp_path):
    pairs, _ = _mine(make_params(tmp_path, project, frame_short_side=64))
    row = pairs.iloc[0]

    assert list(pairs.columns) == stage.COLUMNS
    assert pairs["pair_id"].is_unique
    assert row["source_path"] == f"data/pairs/frames/{row['pair_id']}_source.jpg"
    assert row["pair_id"].startswith(row["video_id"] + "_")
    assert (row["width"], row["height"]) == (80, 64)
    for column in ("source_path", "target_path"):
        image = cv2.imread(row[column])
        assert image.shape == (64, 80, 3)


def test_flow_window_bounds_kept_pairs(project, tmp_path):
    pairs, _ = _mine(make_params(tmp_path, project, min_flow=0.5, max_flow=30.0))

    assert pairs["flow_mean"].between(0.5, 30.0).all()
    assert (pairs["t_target"] > pairs["t_source"]).all()


def test_new_video_is_only_one_decoded(project, tmp_path):
    params = make_params(tmp_path, project)
    _, first = _mine(params)
    motion_clip(project / "added.mp4", seed=7)
    pairs, second = _mine(params)

    assert first["videos_mined"] == 2
    assert second["videos_mined"] == 1
    assert second["videos_from_cache"] == 2
    assert 0 < second["decoded_frames"] < first["decoded_frames"]
    assert len(pairs["video_id"].unique()) == 2


def test_removed_video_leaves_no_pairs(project, tmp_path):
    params = make_params(tmp_path, project)
    motion_clip(project / "second.mp4", seed=8)
    before, _ = _mine(params)
    removed_id = pd.read_parquet(layout.VIDEOS_TABLE).query("path.str.endswith('second.mp4')")["video_id"].item()
    (project / "second.mp4").unlink()
    after, metrics = _mine(params)
    frames = {path.name for path in layout.FRAMES_DIR.iterdir()}

    assert removed_id in set(before["video_id"])
    assert removed_id not in set(after["video_id"])
    assert not any(name.startswith(removed_id) for name in frames)
    assert len(frames) == 2 * len(after)
    assert metrics["videos_mined"] == 0


def test_changed_setting_misses_cache(project, tmp_path):
    _mine(make_params(tmp_path, project))
    _, metrics = _mine(make_params(tmp_path, project, max_pairs_per_video=2))

    assert metrics["videos_mined"] == 2


def test_worker_exit_is_decoder_crash(project, tmp_path):
    motion_clip(project / "crash.mp4", seed=9)
    pairs, metrics = _mine(make_params(tmp_path, project), mine=mine_or_exit)

    assert metrics["videos_failed"] == {"decoder crash": 1}
    assert len(pairs) > 0


def test_corrupt_frames_reject_candidates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    source = motion_clip(tmp_path / "source.mp4", seconds=4)
    # Damages about frames 13 to 29 of 40. Which frames fail varies between runs (decoding
    # damaged H.264 is not deterministic), so ingest may keep the clip or reject it.
    corrupt_clip(source, folder / "damaged.mp4", 0.45, 0.5)
    pairs, metrics = _mine(make_params(tmp_path, folder))
    video = pd.read_parquet(layout.VIDEOS_TABLE).iloc[0]

    assert metrics["videos_failed"] == {}
    assert len(pairs) == metrics["pairs"]
    if video["status"] == "ok":
        assert metrics["rejects"]["corrupt frames"] > 0
    else:
        assert video["reject_reason"] == "corrupt frames"


def test_stage_run_writes_metrics(project, mlflow_store):
    params = make_params(mlflow_store, project)
    ingest.run(params)
    pairs = stage.run(params)
    metrics = json.loads(layout.metrics_file("pairs").read_text())

    assert metrics["pairs"] == len(pairs)
    assert pd.read_parquet(layout.PAIRS_TABLE).equals(pairs)

    client = MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.`instructmove.stage` = 'pairs'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    logged = runs[0].data.metrics
    assert logged["pairs"] == metrics["pairs"]
    assert logged["rejects.too_little_motion"] == metrics["rejects"]["too little motion"]


def test_missing_videos_table_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(stage.StageError, match="instructmove ingest"):
        stage.read_videos()


def _marker_x(image: np.ndarray) -> float:
    """Return the x centre of the white square in a frame."""
    white = np.all(image > 235, axis=2)
    columns = np.nonzero(white.any(axis=0))[0]
    return float(columns.mean())


def test_vfr_clip_keeps_time_gap(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    # 30 fps for the first second, then 5 fps: frame index and time disagree after the first second.
    times = [index / 30 for index in range(30)] + [1.0 + index / 5 for index in range(15)]
    listing = tmp_path / "frames.txt"
    lines = []
    for index, t in enumerate(times):
        frame = moving_square_frame(320, 128, t, seed=3, speed=30.0)
        cv2.imwrite(str(tmp_path / f"f{index:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        duration = (times[index + 1] if index + 1 < len(times) else t + 0.2) - t
        lines += [f"file 'f{index:03d}.png'", f"duration {duration:.6f}"]
    listing.write_text("\n".join(lines) + "\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-fps_mode", "vfr", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-enc_time_base", "1/1000", str(folder / "vfr.mp4"))

    params = make_params(tmp_path, folder, gap_s=1.0, stride_s=0.4, min_flow=0.1, max_background_error=1.0)
    pairs, _ = _mine(params)

    assert len(pairs) >= 2
    for row in pairs.itertuples():
        assert row.t_target - row.t_source == pytest.approx(1.0, abs=0.11)
        # The square moves 30 px/s in the 320 px wide clip; written frames keep that size.
        expected_shift = 30.0 * (row.t_target - row.t_source) * row.width / 320
        shift = _marker_x(cv2.imread(row.target_path)) - _marker_x(cv2.imread(row.source_path))
        assert shift == pytest.approx(expected_shift, abs=4.0)


def test_rotated_clip_comes_out_upright(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    # Upright portrait frames (96 x 160) with a white block in the top-left corner are stored
    # turned 90 degrees counter-clockwise, and the display matrix turns them back clockwise.
    upright = []
    for index in range(30):
        frame = moving_square_frame(96, 160, index / 10, seed=4, speed=10.0)
        frame[:20, :20] = [255, 255, 255]
        frame[-20:, -20:] = [0, 0, 0]
        upright.append(frame)
    write_clip(tmp_path / "coded.mp4", [np.rot90(frame).copy() for frame in upright], fps=10)
    ffmpeg("-display_rotation", "-90", "-i", str(tmp_path / "coded.mp4"), "-c", "copy", str(folder / "portrait.mp4"))

    pairs, _ = _mine(make_params(tmp_path, folder, min_flow=0.1, min_short_side=64))
    video = pd.read_parquet(layout.VIDEOS_TABLE).iloc[0]
    image = cv2.imread(pairs.iloc[0]["source_path"])
    corner = max(4, image.shape[1] // 10)

    assert video["rotation"] == 90
    assert (video["width"], video["height"]) == (96, 160)
    assert image.shape[0] > image.shape[1]
    assert image[:corner, :corner].mean() > 200
    assert image[-corner:, -corner:].mean() < 60


def test_small_rotated_widths_are_well_formed(tmp_path):
    from instructmove.video.reader import open_scaled

    write_clip(tmp_path / "coded.mp4", [np.zeros((48, 64, 3), np.uint8)] * 5, fps=10)
    ffmpeg("-display_rotation", "90", "-i", str(tmp_path / "coded.mp4"), "-c", "copy", str(tmp_path / "r.mp4"))
    reader = open_scaled(tmp_path / "r.mp4", 48, 64)
    frames = dict(reader.read([0, 4]))

    assert frames[0].shape == (64, 48, 3)
    assert frames[4].shape == (64, 48, 3)


def test_removing_cache_folder_remines(project, tmp_path):
    params = make_params(tmp_path, project)
    _mine(params)
    shutil.rmtree(layout.PAIRS_CACHE)
    _, metrics = _mine(params)

    assert metrics["videos_mined"] == 2


def test_corrupt_cache_entry_is_a_miss(tmp_path):
    from instructmove.pairs import cache

    entry = cache.entry_dir("abc123", "key", root=tmp_path)
    entry.mkdir(parents=True)
    (entry / "result.json").write_text("{not json")
    assert cache.load("abc123", "key", root=tmp_path) is None


def test_cache_key_follows_probe_version(monkeypatch):
    from instructmove.pairs import cache

    before = cache.settings_key({"gap_s": 1.0})
    monkeypatch.setattr(cache, "PROBE_VERSION", cache.PROBE_VERSION + 1)
    assert cache.settings_key({"gap_s": 1.0}) != before
