"""Frames as base64 JPEG data URLs, the image form every OpenAI-compatible server accepts."""

import base64
import hashlib
import io
from pathlib import Path

from PIL import Image


def frame_data_url(path: Path | str, max_side: int, quality: int) -> str:
    """Read a frame, shrink it to at most `max_side` pixels on its longest side, and encode it."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_digest(path: Path | str) -> str:
    """Return the sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
