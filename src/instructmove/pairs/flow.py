"""Dense optical flow between the two frames of a pair, and the statistics later stages read.

Flow is OpenCV's DIS at `pairs.flow_side` (no weights to download). A similarity transform fitted
to the flow with RANSAC models the camera: pan, tilt, zoom and rotation. The flow the camera does
not explain is the residual subject motion. Pixels whose residual exceeds
`pairs.moving_threshold_px` form the moving region.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_GRID_STEP = 8


@dataclass
class FlowStats:
    flow_mean: float
    flow_median: float
    flow_p95: float
    moving_fraction: float
    camera_tx: float
    camera_ty: float
    camera_zoom: float
    camera_rotation: float
    subject_dx: float
    subject_dy: float
    subject_cx: float
    subject_cy: float
    background_error: float


def create_flow(preset: str) -> cv2.DISOpticalFlow:
    """Return a DIS optical flow object for a preset name: ultrafast, fast or medium."""
    return cv2.DISOpticalFlow_create(PRESETS[preset])


@lru_cache(maxsize=8)
def _pixel_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Return read-only x and y coordinate arrays (float32) for an image size."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs.flags.writeable = False
    ys.flags.writeable = False
    return xs, ys


def _magnitude(vectors: np.ndarray) -> np.ndarray:
    return np.sqrt(vectors[..., 0] ** 2 + vectors[..., 1] ** 2)


def _fit_camera(flow: np.ndarray, threshold: float) -> np.ndarray:
    """Fit a similarity transform (2x3) mapping source pixels to target pixels; identity on failure."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[_GRID_STEP // 2:height:_GRID_STEP, _GRID_STEP // 2:width:_GRID_STEP]
    source = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    target = source + flow[ys.ravel(), xs.ravel()]
    matrix, _ = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=2000, confidence=0.99
    )
    if matrix is None:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return matrix


def _camera_flow(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    xs, ys = _pixel_grid(width, height)
    moved_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    moved_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return np.stack([moved_x - xs, moved_y - ys], axis=2)


def _background_error(source: np.ndarray, target: np.ndarray, flow: np.ndarray, moving: np.ndarray) -> float:
    """Warp the target back onto the source with the flow; return the mean error (0..1) outside `moving`."""
    height, width = flow.shape[:2]
    xs, ys = _pixel_grid(width, height)
    map_x = xs + flow[..., 0]
    map_y = ys + flow[..., 1]
    warped = cv2.remap(target, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    region = inside & ~moving
    if region.sum() < 0.05 * region.size:
        region = inside
    if not region.any():
        return 1.0
    error = np.abs(source.astype(np.float32) - warped.astype(np.float32)) / 255.0
    return float(error[region].mean())


def mean_magnitude(flow: np.ndarray) -> float:
    """Return the mean flow magnitude in pixels, the quantity the motion window bounds."""
    return float(_magnitude(flow).mean())


def flow_statistics(source: np.ndarray, target: np.ndarray, flow: np.ndarray, moving_threshold: float) -> FlowStats:
    """Summarise the flow from gray `source` to gray `target` (pixels at flow size)."""
    height, width = flow.shape[:2]
    magnitude = _magnitude(flow)
    median, p95 = np.percentile(magnitude, [50, 95])

    matrix = _fit_camera(flow, moving_threshold)
    residual = flow - _camera_flow(matrix, width, height)
    moving = _magnitude(residual) > moving_threshold
    moving = cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)

    centre = np.array([width / 2.0, height / 2.0, 1.0])
    pan_x, pan_y = matrix @ centre - centre[:2]
    scale = math.hypot(matrix[0, 0], matrix[1, 0])

    if moving.any():
        subject_dx, subject_dy = residual[moving].mean(axis=0)
        ys, xs = np.nonzero(moving)
        subject_cx, subject_cy = xs.mean() / width, ys.mean() / height
    else:
        subject_dx = subject_dy = 0.0
        subject_cx = subject_cy = 0.5

    return FlowStats(
        flow_mean=float(magnitude.mean()),
        flow_median=float(median),
        flow_p95=float(p95),
        moving_fraction=float(moving.mean()),
        camera_tx=float(pan_x),
        camera_ty=float(pan_y),
        camera_zoom=float(scale - 1.0),
        camera_rotation=float(math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))),
        subject_dx=float(subject_dx),
        subject_dy=float(subject_dy),
        subject_cx=float(subject_cx),
        subject_cy=float(subject_cy),
        background_error=_background_error(source, target, flow, moving),
    )
