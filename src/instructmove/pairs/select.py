"""Choose the pairs to keep among the candidates that passed every filter of one clip.

Candidates are ranked by how well their motion sits inside the motion window and how little the
background changed. The first pass takes pairs whose time spans do not overlap, the second fills
up to `max_pairs_per_video`. A candidate whose source and target frames both look like those of
a pair already kept (difference hashes within `duplicate_max_distance` bits in total) is a near
duplicate.
"""

import math
from dataclasses import dataclass

import numpy as np

from instructmove.pairs.quality import hash_distance

NEAR_DUPLICATE = "near duplicate"
OVER_LIMIT = "over limit"


@dataclass
class Scored:
    """A candidate that passed the filters, with what selection needs."""

    position: int
    t_source: float
    t_target: float
    flow_mean: float
    background_error: float
    source_hash: np.ndarray
    target_hash: np.ndarray


def _score(item: Scored, settings) -> float:
    # Distance, in log space, from the geometric centre of the motion window: 0 is best.
    floor = max(settings.min_flow, 1e-3)
    centre = math.sqrt(floor * settings.max_flow)
    motion = abs(math.log(max(item.flow_mean, 1e-3) / centre))
    return motion + 10.0 * item.background_error


def _is_duplicate(item: Scored, kept: list[Scored], max_distance: int) -> bool:
    for other in kept:
        distance = hash_distance(item.source_hash, other.source_hash) + hash_distance(item.target_hash, other.target_hash)
        if distance <= max_distance:
            return True
    return False


def _overlaps(item: Scored, kept: list[Scored]) -> bool:
    return any(item.t_source < other.t_target and other.t_source < item.t_target for other in kept)


def select_pairs(items: list[Scored], settings) -> tuple[list[int], dict[int, str]]:
    """Return the positions of the kept candidates (in time order) and a reject reason per other position."""
    ranked = sorted(items, key=lambda item: (_score(item, settings), item.t_source))
    kept: list[Scored] = []
    rejected: dict[int, str] = {}

    for allow_overlap in (False, True):
        for item in ranked:
            taken = any(other.position == item.position for other in kept)
            if taken or item.position in rejected or len(kept) >= settings.max_pairs_per_video:
                continue
            if _is_duplicate(item, kept, settings.duplicate_max_distance):
                rejected[item.position] = NEAR_DUPLICATE
            elif allow_overlap or not _overlaps(item, kept):
                kept.append(item)

    kept_positions = {item.position for item in kept}
    for item in ranked:
        if item.position not in kept_positions and item.position not in rejected:
            rejected[item.position] = OVER_LIMIT
    return sorted(kept_positions), rejected
