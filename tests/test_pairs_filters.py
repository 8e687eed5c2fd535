"""Flow statistics, camera fit, filters, candidate sampling and selection on synthetic frames."""

import cv2
import numpy as np
import pytest

from helpers_video import texture
from instructmove.pairs.candidates import sample_candidates
from instructmove.pairs.flow import create_flow, flow_statistics
from instructmove.pairs.quality import colour_histogram, difference_hash, histogram_distance, sharpness
from instructmove.pairs.select import NEAR_DUPLICATE, OVER_LIMIT, Scored, select_pairs
from instructmove.pairs.settings import PairsSettings
from instructmove.video.timestamps import nearest_frames, repair_timestamps

WIDTH, HEIGHT = 320, 256


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _stats(source: np.ndarray, target: np.ndarray):
    source, target = np.ascontiguousarray(source), np.ascontiguousarray(target)
    flow = create_flow("medium").calc(source, target, None)
    return flow_statistics(source, target, flow, moving_threshold=1.5)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A textured gray scene larger than the frames, so crops can pan over it."""
    return _gray(texture(WIDTH + 64, HEIGHT + 64, seed=1))


def test_camera_pan_is_measured(scene):
    source = scene[32:32 + HEIGHT, 32:32 + WIDTH]
    # Cropping 6 px further left and 3 px lower moves the content 6 px right and 3 px up.
    target = scene[35:35 + HEIGHT, 26:26 + WIDTH]
    stats = _stats(source, target)

    assert stats.camera_tx == pytest.approx(6.0, abs=0.5)
    assert stats.camera_ty == pytest.approx(-3.0, abs=0.5)
    assert stats.camera_zoom == pytest.approx(0.0, abs=0.01)
    assert stats.moving_fraction < 0.1
    assert stats.flow_mean == pytest.approx(np.hypot(6, 3), abs=0.7)


def test_camera_zoom_is_measured(scene):
    source = scene[32:32 + HEIGHT, 32:32 + WIDTH]
    centre = (WIDTH / 2, HEIGHT / 2)
    target = cv2.warpAffine(source, cv2.getRotationMatrix2D(centre, 0, 1.05), (WIDTH, HEIGHT),
                            borderMode=cv2.BORDER_REFLECT)
    stats = _stats(source, target)

    assert stats.camera_zoom == pytest.approx(0.05, abs=0.01)
    assert abs(stats.camera_tx) < 0.5
    assert abs(stats.camera_rotation) < 0.5


def test_camera_rotation_sign(scene):
    source = scene[32:32 + HEIGHT, 32:32 + WIDTH]
    centre = (WIDTH / 2, HEIGHT / 2)
    # OpenCV's positive angle turns the image counter-clockwise on screen.
    target = cv2.warpAffine(source, cv2.getRotationMatrix2D(centre, 2.0, 1.0), (WIDTH, HEIGHT),
                            borderMode=cv2.BORDER_REFLECT)
    stats = _stats(source, target)

    assert stats.camera_rotation == pytest.approx(-2.0, abs=0.3)


def test_subject_motion_is_residual(scene):
    background = scene[32:32 + HEIGHT, 32:32 + WIDTH].copy()
    source, target = background.copy(), background.copy()
    patch = scene[:48, :48]
    source[100:148, 60:108] = patch
    target[100:148, 70:118] = patch
    stats = _stats(source, target)

    assert stats.subject_dx > 4.0
    assert abs(stats.subject_dy) < 2.0
    assert 0.01 < stats.moving_fraction < 0.2
    assert stats.subject_cx == pytest.approx(89 / WIDTH, abs=0.08)
    assert stats.subject_cy == pytest.approx(124 / HEIGHT, abs=0.08)
    assert abs(stats.camera_tx) < 0.5


def test_background_error_flags_lighting_change(scene):
    source = scene[32:32 + HEIGHT, 32:32 + WIDTH]
    brighter = cv2.add(source, 60)

    assert _stats(source, source).background_error < 0.01
    assert _stats(source, brighter).background_error > 0.08


def test_scene_cut_histogram_distance():
    base = texture(WIDTH, HEIGHT, seed=1).astype(np.float32)
    green_scene = (base * [0.3, 1.0, 0.3]).astype(np.uint8)
    blue_scene = (base * [0.2, 0.3, 1.0]).astype(np.uint8)
    panned = np.roll(green_scene, 8, axis=1)

    assert histogram_distance(colour_histogram(green_scene), colour_histogram(panned)) < 0.2
    assert histogram_distance(colour_histogram(green_scene), colour_histogram(blue_scene)) > 0.5


def test_sharpness_separates_blur(scene):
    sharp = scene[:HEIGHT, :WIDTH]
    blurred = cv2.GaussianBlur(sharp, (0, 0), 6)

    assert sharpness(sharp) > 8.0
    assert sharpness(blurred) < 8.0


def _scored(position: int, t_source: float, image: np.ndarray, flow_mean: float = 6.0) -> Scored:
    hashed = difference_hash(image)
    return Scored(position, t_source, t_source + 1.0, flow_mean, 0.01, hashed, hashed)


def test_selection_drops_near_duplicates(scene):
    same = scene[:HEIGHT, :WIDTH]
    items = [_scored(0, 0.0, same), _scored(1, 2.0, same), _scored(2, 4.0, scene[64:64 + HEIGHT, 64:64 + WIDTH])]
    kept, rejected = select_pairs(items, PairsSettings())

    assert len(kept) == 2
    assert 2 in kept
    assert list(rejected.values()) == [NEAR_DUPLICATE]


def test_selection_caps_pairs_per_video(scene):
    items = [_scored(index, index * 2.0, scene[index * 8:index * 8 + HEIGHT, :WIDTH]) for index in range(6)]
    kept, rejected = select_pairs(items, PairsSettings(max_pairs_per_video=4, duplicate_max_distance=0))

    assert len(kept) == 4
    assert sorted(rejected.values()) == [OVER_LIMIT, OVER_LIMIT]


def test_selection_prefers_disjoint_spans(scene):
    views = [scene[index * 8:index * 8 + HEIGHT, :WIDTH] for index in range(3)]
    # Ranked best first: 0, then 1 (overlaps 0), then 2 (disjoint from 0).
    items = [_scored(0, 0.0, views[0], flow_mean=6.3), _scored(1, 0.5, views[1], flow_mean=6.0),
             _scored(2, 2.0, views[2], flow_mean=4.0)]
    kept, rejected = select_pairs(items, PairsSettings(max_pairs_per_video=2, duplicate_max_distance=0))

    assert kept == [0, 2]
    assert rejected == {1: OVER_LIMIT}


def test_short_clip_gets_shorter_gap():
    times = np.arange(36) / 30.0
    candidates = sample_candidates(times, PairsSettings(), "video")
    gaps = [c.t_target - c.t_source for c in candidates]

    assert len(candidates) >= 3
    assert all(gap == pytest.approx(0.583, abs=0.04) for gap in gaps)


def test_long_clip_keeps_configured_gap():
    times = np.arange(300) / 30.0
    candidates = sample_candidates(times, PairsSettings(gap_s=1.0, stride_s=0.5), "video")

    assert len(candidates) == 18
    assert all(c.t_target - c.t_source == pytest.approx(1.0, abs=0.02) for c in candidates)


def test_too_short_clip_gives_no_candidates():
    times = np.arange(3) / 30.0

    assert sample_candidates(times, PairsSettings(min_gap_s=0.2), "video") == []


def test_sampling_is_seeded():
    times = np.arange(95) / 30.0
    first = sample_candidates(times, PairsSettings(seed=3), "video")
    again = sample_candidates(times, PairsSettings(seed=3), "video")

    assert first == again


def test_missing_timestamps_are_interpolated():
    sentinel = -3.6893488e17
    starts = np.arange(20) * 0.05 + 1.0
    starts[[0, 7]] = sentinel
    times = repair_timestamps(starts, fps=30.0)

    assert times == pytest.approx(np.arange(20) * 0.05, abs=1e-6)


def test_broken_timestamps_fall_back_to_rate():
    # Like an AVI seen through decord: most frames lack a time, the rest disagree with the rate.
    starts = np.full(40, -3.6893488e17)
    starts[30:] = np.arange(10) * 0.12
    times = repair_timestamps(starts, fps=25.0)

    assert times == pytest.approx(np.arange(40) * 0.04, abs=1e-6)


def test_variable_frame_times_are_kept():
    starts = np.concatenate([np.arange(30) / 30, 1.0 + np.arange(10) / 5])

    assert repair_timestamps(starts, fps=12.0) == pytest.approx(starts, abs=1e-9)


def test_nearest_frames_by_time():
    times = np.array([0.0, 0.033, 0.066, 0.5, 1.0])

    assert nearest_frames(times, np.array([0.04, 0.3, 0.9, 5.0])).tolist() == [1, 3, 4, 4]
