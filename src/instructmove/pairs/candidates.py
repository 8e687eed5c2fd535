"""Candidate pairs: source times every stride, each with a target one gap later, snapped to frames.

Clips shorter than the configured gap allows use a shorter gap (at most `max_gap_fraction` of the
clip, at least `min_gap_s`), and a shorter stride so each clip offers `min_candidates` candidates.
"""

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from instructmove.video.timestamps import nearest_frames


@dataclass(frozen=True)
class Candidate:
    source_index: int
    target_index: int
    t_source: float
    t_target: float


def effective_gap(duration_s: float, settings) -> float | None:
    """Return the gap used for a clip, or None when even `min_gap_s` does not fit."""
    gap = min(settings.gap_s, duration_s * settings.max_gap_fraction)
    return gap if gap >= settings.min_gap_s else None


def _rng(video_id: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sample_candidates(times: np.ndarray, settings, video_id: str) -> list[Candidate]:
    """Return the candidate pairs of one clip; `times` are the frame start times in seconds."""
    duration = float(times[-1]) if len(times) else 0.0
    gap = effective_gap(duration, settings)
    if gap is None:
        return []

    span = duration - gap
    stride = settings.stride_s
    if settings.min_candidates > 1 and span > 0:
        stride = min(stride, span / (settings.min_candidates - 1))
    count = int(math.floor(span / stride + 1e-9)) + 1 if span > 0 else 1

    # A seeded offset moves the sampling grid within the slack the clip leaves over.
    slack = max(0.0, span - (count - 1) * stride)
    offset = _rng(video_id, settings.seed).uniform(0.0, min(slack, stride)) if slack > 0 else 0.0
    sources = offset + stride * np.arange(count)
    source_indices = nearest_frames(times, sources)
    target_indices = nearest_frames(times, sources + gap)

    candidates = []
    seen = set()
    for source, target in zip(source_indices.tolist(), target_indices.tolist(), strict=True):
        if target <= source or (source, target) in seen:
            continue
        seen.add((source, target))
        candidates.append(Candidate(source, target, float(times[source]), float(times[target])))
    return candidates
