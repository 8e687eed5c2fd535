"""Pixel metrics of an edit against the real target frame: PSNR, SSIM and L1.

Images are RGB arrays of floats in [0, 1] with the same shape (height, width, 3). The caller
resizes the target to the edit's size first (see `prepare.resize_to`), so every method is
compared at the model resolution.
"""

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

# PSNR of two identical images is infinite; the MSE floor caps it at 100 dB so JSON stays valid.
MSE_FLOOR = 1e-10

# SSIM constants of Wang et al. (2004), "Image quality assessment: from error visibility to
# structural similarity": Gaussian window with sigma 1.5 truncated to 11 x 11, K1 = 0.01, K2 = 0.03.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_array(image: Image.Image) -> np.ndarray:
    """Convert a PIL image to an RGB float64 array in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def _check_pair(edit: np.ndarray, target: np.ndarray) -> None:
    if edit.shape != target.shape:
        raise ValueError(f"edit {edit.shape} and target {target.shape} differ in shape; resize the target first")


def l1(edit: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference over all pixels and channels, in [0, 1]."""
    _check_pair(edit, target)
    return float(np.mean(np.abs(edit - target)))


def psnr(edit: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for a data range of 1: 10 * log10(1 / MSE)."""
    _check_pair(edit, target)
    mse = max(float(np.mean((edit - target) ** 2)), MSE_FLOOR)
    return float(10.0 * np.log10(1.0 / mse))


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    c1 = SSIM_K1**2
    c2 = SSIM_K2**2
    truncate = SSIM_RADIUS / SSIM_SIGMA

    def blur(values: np.ndarray) -> np.ndarray:
        return gaussian_filter(values, sigma=SSIM_SIGMA, truncate=truncate, mode="reflect")

    mu_x = blur(x)
    mu_y = blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y

    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    ssim_map = numerator / denominator

    # Border pixels see a reflected window; drop them when the image is large enough to keep some.
    if min(ssim_map.shape) > 2 * SSIM_RADIUS:
        ssim_map = ssim_map[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
    return float(ssim_map.mean())


def ssim(edit: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity with a Gaussian window, computed per RGB channel and averaged."""
    _check_pair(edit, target)
    return float(np.mean([_ssim_channel(edit[..., c], target[..., c]) for c in range(edit.shape[-1])]))


def pixel_metrics(edit: Image.Image, target: Image.Image) -> dict[str, float]:
    """PSNR, SSIM and L1 of one edit against its target, both PIL images of the same size."""
    edit_array = to_array(edit)
    target_array = to_array(target)
    return {
        "psnr": psnr(edit_array, target_array),
        "ssim": ssim(edit_array, target_array),
        "l1": l1(edit_array, target_array),
    }
