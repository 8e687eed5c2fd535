"""Frame timestamps: repair what the container reports and map times to frame indices.

Sampling by time instead of frame index keeps the requested gap on variable-frame-rate clips.
"""

import numpy as np

# A presentation time above this, in seconds, is a missing-value sentinel, not a real time
# (AVI files report AV_NOPTS_VALUE through decord as about -3.7e17).
_MAX_PLAUSIBLE_S = 1e6


# Below this share of usable timestamps the container's timing is not trusted at all.
_MIN_VALID_SHARE = 0.9


def _uniform(count: int, fps: float) -> np.ndarray:
    step = 1.0 / fps if fps > 0 else 1.0 / 25.0
    return np.arange(count, dtype=np.float64) * step


def repair_timestamps(starts: np.ndarray, fps: float) -> np.ndarray:
    """Return monotonic frame start times in seconds, counted from the first frame.

    A few missing or implausible entries are interpolated from their neighbours (and extended at
    the typical frame step at the ends). When most entries are missing or the valid ones run
    backwards, as in some AVI files, the times fall back to index / fps.
    """
    starts = np.asarray(starts, dtype=np.float64)
    count = len(starts)
    valid = np.isfinite(starts) & (starts > -_MAX_PLAUSIBLE_S) & (starts < _MAX_PLAUSIBLE_S)
    if valid.sum() < max(2, _MIN_VALID_SHARE * count) or np.any(np.diff(starts[valid]) < 0):
        return _uniform(count, fps)

    indices = np.arange(count)
    known = indices[valid]
    times = np.interp(indices, known, starts[valid])

    # np.interp repeats the end values, so the ends are extended at the typical frame step instead.
    step = float(np.median(np.diff(starts[valid]) / np.diff(known)))
    if step <= 0:
        step = 1.0 / fps if fps > 0 else 1.0 / 25.0
    before, after = indices < known[0], indices > known[-1]
    times[before] = starts[known[0]] - (known[0] - indices[before]) * step
    times[after] = starts[known[-1]] + (indices[after] - known[-1]) * step
    return times - times[0]


def frame_duration(times: np.ndarray) -> float:
    """Return the typical frame duration: the median gap between consecutive frames."""
    if len(times) < 2:
        return 0.0
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else 0.0


def nearest_frames(times: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return, for each wanted time, the index of the frame whose start time is closest."""
    wanted = np.asarray(wanted, dtype=np.float64)
    if len(times) == 1:
        return np.zeros(len(wanted), dtype=np.int64)
    right = np.clip(np.searchsorted(times, wanted), 1, len(times) - 1)
    left = right - 1
    pick_left = np.abs(wanted - times[left]) <= np.abs(times[right] - wanted)
    return np.where(pick_left, left, right)
