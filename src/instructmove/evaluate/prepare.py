"""Cut benchmark images to the square view every method edits, and resize images for comparison.

Source, target and mask get the same crop, so their pixels stay aligned. Each method resizes the
square view to its own input size, and every edit is then resized to the evaluated model's output
size, where all pixel and CLIP metrics are computed.
"""

from pathlib import Path

from PIL import Image


def center_crop(image: Image.Image) -> Image.Image:
    """Cut the largest centred square out of an image."""
    width, height = image.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def square_view(image: Image.Image, crop: str) -> Image.Image:
    """Return the view the methods edit: the centred square (`center`) or the whole image (`stretch`)."""
    if crop == "center":
        return center_crop(image)
    if crop == "stretch":
        return image.copy()
    raise ValueError(f"crop={crop!r}: expected 'center' or 'stretch'")


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize an image to (width, height) with bicubic filtering; an image of that size is returned as is."""
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC)


def load_view(path: Path, crop: str) -> Image.Image:
    """Open an image file as RGB and cut its square view."""
    with Image.open(path) as image:
        return square_view(image.convert("RGB"), crop)


def load_mask_view(path: Path, crop: str) -> Image.Image:
    """Open a mask (white may change, black stays) as grayscale and cut the same view as the source."""
    with Image.open(path) as image:
        return square_view(image.convert("L"), crop)
