"""Frames as base64 JPEG data URLs, the image form every OpenAI-compatible server accepts."""

import base64
import hashlib
import io
from pathlib import Path

from PIL import Image

PREFIX = "data:image/jpeg;base64,"


def frame_data_url(path: Path | str, max_side: int, quality: int) -> str:
    """Encode a frame, shrunk to at most `max_side` pixels on its longest side.

    A JPEG file that already fits is sent byte for byte, which saves a decode and a lossy re-encode.
    """
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG" and image.mode in ("RGB", "L") and max(image.size) <= max_side:
            return PREFIX + base64.b64encode(data).decode("ascii")

        image = image.convert("RGB")
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
    return PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_digest(path: Path | str) -> str:
    """Return the sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
