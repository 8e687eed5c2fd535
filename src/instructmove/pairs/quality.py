"""Per-frame measures for the pair filters: sharpness, brightness, colour histogram, perceptual hash."""

from dataclasses import dataclass

import cv2
import numpy as np

_HASH_SIZE = 16


@dataclass
class FrameFacts:
    """What the filters need from one decoded frame; `gray` is at flow size."""

    gray: np.ndarray
    sharpness: float
    brightness: float
    histogram: np.ndarray
    dhash: np.ndarray


def sharpness(gray: np.ndarray) -> float:
    """Return the variance of the Laplacian; low values mean a blurred frame."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Return a normalised hue-saturation-value histogram (16 x 4 x 4 bins)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(histogram, None).flatten()


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Return the Bhattacharyya distance (0 same colours, 1 disjoint) between two histograms."""
    return float(cv2.compareHist(first, second, cv2.HISTCMP_BHATTACHARYYA))


def difference_hash(gray: np.ndarray) -> np.ndarray:
    """Return the 256-bit difference hash (16 x 16) of a gray image as a boolean array."""
    small = cv2.resize(gray, (_HASH_SIZE + 1, _HASH_SIZE), interpolation=cv2.INTER_AREA)
    return (small[:, 1:] > small[:, :-1]).flatten()


def hash_distance(first: np.ndarray, second: np.ndarray) -> int:
    """Return the number of differing bits between two hashes."""
    return int(np.count_nonzero(first != second))


def frame_facts(rgb: np.ndarray, flow_size: tuple[int, int]) -> FrameFacts:
    """Measure one RGB frame; `flow_size` is the (width, height) at which flow is computed."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if (gray.shape[1], gray.shape[0]) != flow_size:
        shrinking = flow_size[0] < gray.shape[1]
        gray = cv2.resize(gray, flow_size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return FrameFacts(
        gray=gray,
        sharpness=sharpness(gray),
        brightness=float(gray.mean()),
        histogram=colour_histogram(rgb),
        dhash=difference_hash(gray),
    )
