"""The offline writer and the stage run with `instruct.backend: flow`."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest

import helpers_instruct
from helpers_instruct import make_pairs, make_params, pair_row, write_pairs
from instructmove import layout
from instructmove.errors import StageError
from instructmove.instruct import flow_writer
from instructmove.instruct.settings import FlowWriterSettings
from instructmove.instruct.stage import run
from instructmove.instruct.table import RESULT_COLUMNS
from instructmove.pairs.flow import create_flow, flow_statistics

SETTINGS = FlowWriterSettings()


@pytest.fixture
def project(tmp_path, monkeypatch, tmp_path_factory):
    """A project folder as working directory, with one MLflow store shared by this module's tests."""
    store = tmp_path_factory.getbasetemp() / "instruct_flow_store"
    store.mkdir(exist_ok=True)
    monkeypatch.setattr(helpers_instruct, "DEFAULT_STORE", store)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("stats", "expected_phrases"),
    [
        ({"camera_tx": 12.0, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["pan_left"]),
        ({"camera_tx": -12.0, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["pan_right"]),
        ({"camera_ty": 9.0, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["tilt_up"]),
        ({"camera_ty": -9.0, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["tilt_down"]),
        ({"camera_zoom": 0.2, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["zoom_in"]),
        ({"camera_zoom": -0.2, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["zoom_out"]),
        ({"camera_rotation": 10.0, "subject_dx": 0.0}, flow_writer.CAMERA_PHRASES["roll_clockwise"]),
    ],
)
def test_camera_motion_phrases(stats, expected_phrases):
    result = flow_writer.write_instruction(pair_row(0, **stats), SETTINGS, seed=0)

    assert result["instruction"] in expected_phrases
    assert result["edit_type"] == "camera"
    assert result["status"] == "ok"
    assert result["backend"] == "flow"


def test_subject_region_and_direction():
    row = pair_row(0, subject_dx=0.0, subject_dy=-6.0, subject_cx=0.1, subject_cy=0.9)
    result = flow_writer.write_instruction(row, SETTINGS, seed=0)

    assert "in the lower left" in result["instruction"]
    assert result["instruction"].endswith("upward")
    assert result["edit_type"] == "object motion"
    assert result["subject"] == "subject in the lower left"
    assert "lower left moves upward" in result["caption_after"]
    assert result["caption_before"] == flow_writer.CAPTION_BEFORE


def test_subject_beats_small_camera_motion():
    row = pair_row(0, camera_tx=1.0, subject_dx=-8.0, subject_cx=0.9, subject_cy=0.1)
    result = flow_writer.write_instruction(row, SETTINGS, seed=0)

    assert "in the upper right" in result["instruction"]
    assert result["instruction"].endswith("to the left")
    assert result["edit_type"] == "object motion"


def test_tracking_shot_is_camera_motion():
    row = pair_row(0, camera_tx=-22.0, camera_ty=-10.0, subject_dx=25.0, subject_dy=-2.0)
    result = flow_writer.write_instruction(row, SETTINGS, seed=0)

    assert result["instruction"] in flow_writer.CAMERA_PHRASES["pan_right"]
    assert result["edit_type"] == "camera"


def test_missing_subject_stats_fall_back_to_camera():
    row = pair_row(0, camera_tx=-5.0, subject_dx=float("nan"), subject_dy=None, subject_cx=None, subject_cy=None)
    result = flow_writer.write_instruction(row, SETTINGS, seed=0)

    assert result["instruction"] in flow_writer.CAMERA_PHRASES["pan_right"]


@pytest.mark.parametrize(
    ("dx", "dy", "expected"),
    [(1, 0, "to the right"), (-1, 0, "to the left"), (0, -1, "upward"), (0, 1, "downward"),
     (1, -1, "up and to the right"), (-1, 1, "down and to the left")],
)
def test_direction_names(dx, dy, expected):
    assert flow_writer.direction_name(dx, dy) == expected


@pytest.mark.parametrize(
    ("cx", "cy", "expected"),
    [(0.5, 0.5, "centre"), (0.1, 0.1, "upper left"), (0.5, 0.05, "top"), (0.95, 0.5, "right"),
     (0.5, 0.99, "bottom"), (1.0, 1.0, "lower right")],
)
def test_region_names(cx, cy, expected):
    assert flow_writer.region_name(cx, cy) == expected


def test_phrasing_is_seeded():
    rows = [pair_row(index, camera_tx=12.0, subject_dx=0.0) for index in range(30)]
    first = flow_writer.write_all(rows, SETTINGS, seed=0)
    again = flow_writer.write_all(rows, SETTINGS, seed=0)
    other_seed = flow_writer.write_all(rows, SETTINGS, seed=1)

    assert first == again
    assert len({result["instruction"] for result in first.values()}) > 1
    assert [r["instruction"] for r in first.values()] != [r["instruction"] for r in other_seed.values()]


def test_stage_writes_triplets_and_metrics(project):
    pairs = make_pairs(project, 6)

    metrics = run(make_params(project, backend="flow"))

    triplets = pd.read_parquet(layout.TRIPLETS_TABLE)
    assert list(triplets.columns) == list(pairs.columns) + list(RESULT_COLUMNS)
    assert triplets["pair_id"].tolist() == pairs["pair_id"].tolist()
    assert (triplets["status"] == "ok").all()
    assert (triplets["backend"] == "flow").all()
    assert triplets["instruction"].str.len().gt(0).all()
    assert (triplets["prompt_tokens"] == 0).all()
    assert triplets["prompt_hash"].iloc[0] == flow_writer.phrasing_hash()

    written = json.loads(layout.metrics_file("instruct").read_text())
    assert written == metrics
    assert written["status"] == {"ok": 6, "declined": 0, "failed": 0}
    assert written["backend"] == "flow"


def test_stage_handles_empty_pairs(project):
    write_pairs(project, [pair_row(0)], frames=False)
    empty = pd.read_parquet(layout.PAIRS_TABLE).iloc[0:0]
    empty.to_parquet(layout.PAIRS_TABLE, index=False)

    metrics = run(make_params(project, backend="flow"))

    assert len(pd.read_parquet(layout.TRIPLETS_TABLE)) == 0
    assert metrics["pairs"] == 0


def test_stage_rejects_missing_columns(project):
    write_pairs(project, [pair_row(0)], frames=False)
    pd.read_parquet(layout.PAIRS_TABLE).drop(columns=["camera_zoom"]).to_parquet(layout.PAIRS_TABLE)

    with pytest.raises(StageError, match="camera_zoom"):
        run(make_params(project, backend="flow"))


def textured_frame(size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, size=(size // 8, size // 8)).astype(np.uint8)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize(
    ("shift", "axis", "expected"),
    [(6, 1, "pan_left"), (-6, 1, "pan_right"), (6, 0, "tilt_up"), (-6, 0, "tilt_down")],
)
def test_sign_conventions_match_pairs_stage(shift, axis, expected):
    source = textured_frame()
    target = np.roll(source, shift, axis=axis)
    flow = create_flow("medium").calc(source, target, None)
    stats = flow_statistics(source, target, flow, moving_threshold=1.0)

    row = pair_row(0, **{name: getattr(stats, name) for name in (
        "camera_tx", "camera_ty", "camera_zoom", "camera_rotation",
        "subject_dx", "subject_dy", "subject_cx", "subject_cy")})
    result = flow_writer.write_instruction(row, SETTINGS, seed=0)

    assert result["instruction"] in flow_writer.CAMERA_PHRASES[expected]
