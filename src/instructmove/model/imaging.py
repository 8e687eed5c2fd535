"""Conversions between PIL images and model tensors, shared by training and inference."""

import numpy as np
import torch
from PIL import Image


def crop_box(width: int, height: int, scale: float = 1.0, offset: tuple[float, float] = (0.5, 0.5)):
    """Return a square crop box whose side is `scale` times the short side, placed by `offset` in 0..1."""
    side = max(1, int(round(min(width, height) * scale)))
    left = int(round((width - side) * offset[0]))
    top = int(round((height - side) * offset[1]))
    return left, top, left + side, top + side


def square(image: Image.Image, size: int, resample=Image.Resampling.BICUBIC, box=None) -> Image.Image:
    """Crop a square (the centre one unless `box` is given) and resize it to `size` x `size`."""
    box = box or crop_box(*image.size)
    if box == (0, 0, size, size) and image.size == (size, size):
        return image
    return image.crop(box).resize((size, size), resample)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert an RGB image to a CHW float tensor in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0


def to_unit_tensor(image: Image.Image) -> torch.Tensor:
    """Convert an image to a CHW float tensor in [0, 1] (ControlNet conditions)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 255.0


def to_mask(image: Image.Image) -> torch.Tensor:
    """Convert a mask image to a 1HW tensor: 1 where pixels may change (white), 0 where they stay."""
    array = np.asarray(image.convert("L"), dtype=np.float32)
    return torch.from_numpy((array >= 128).astype(np.float32))[None]


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Convert a CHW tensor in [-1, 1] to an RGB image, rounding to the nearest level."""
    array = ((tensor.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy())


def as_list(value, count: int | None = None) -> list:
    """Wrap a single item in a list; repeat a one-item list to `count` items."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if count is not None and len(items) == 1 and count > 1:
        items = items * count
    return items
