"""Decode frames with decord at a chosen size, upright, and survive unreadable frames.

decord (eva-decord 0.6.1) applies the container's display rotation itself, and its `width` and
`height` arguments set the size of the rotated output. On rotated clips it returns malformed
arrays (4 or 6 channels, wrong byte count) for a few small output widths (16, 24, 48 and 72 px
in our trials), so every reader is checked on its first frame and reopened one step wider when
the shape is wrong.
"""

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import decord
import numpy as np

log = logging.getLogger(__name__)

# decord raises RuntimeError for unreadable containers and its own DECORDError (a plain
# Exception subclass) for missing streams and bad packets.
DECODE_ERRORS = (RuntimeError, decord.DECORDError, IndexError, ValueError)
_WIDEN_ATTEMPTS = 3


class VideoDecodeError(Exception):
    """A video cannot be decoded; `reason` is one of the reject categories of videos.parquet."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


# decord prefixes its messages with "[hh:mm:ss] /build/path/file.cc:line: ".
_DECORD_PREFIX = re.compile(r"^\[[0-9:]+\] \S+:\d+: (Check failed: .*?(?=ERROR)|)")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    if not text:
        return type(error).__name__
    return _DECORD_PREFIX.sub("", text.splitlines()[0]).strip()


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Return (width, height) with the short side at `short_side`, never upscaling, both even."""
    scale = min(1.0, short_side / min(width, height))
    new_width = max(2, int(round(width * scale / 2)) * 2)
    new_height = max(2, int(round(height * scale / 2)) * 2)
    return new_width, new_height


def open_native(path: Path | str) -> decord.VideoReader:
    """Open a video at its own size, or raise VideoDecodeError with a reason category."""
    try:
        return decord.VideoReader(str(path), num_threads=1)
    except DECODE_ERRORS as error:
        message = _first_line(error)
        if "cannot find video stream" in message:
            raise VideoDecodeError("no video stream", message) from None
        raise VideoDecodeError("unreadable", message) from None


@dataclass
class FrameReader:
    """A decord reader that returns RGB uint8 frames of exactly `size` (width, height)."""

    reader: decord.VideoReader
    size: tuple[int, int]

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        if frame.shape[1] != self.size[0] or frame.shape[0] != self.size[1]:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame

    def read(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield (index, frame) in the given order; a frame that fails to decode is None."""
        indices = list(indices)
        try:
            batch = self.reader.get_batch(indices).asnumpy()
        except DECODE_ERRORS as error:
            log.debug("batch decode failed (%s); reading frames one by one", error)
            batch = None

        for position, index in enumerate(indices):
            if batch is not None:
                yield index, self._fit(batch[position])
                continue
            try:
                yield index, self._fit(self.reader[index].asnumpy())
            except DECODE_ERRORS:
                yield index, None


def _is_well_formed(frame: np.ndarray, width: int, height: int) -> bool:
    return frame.ndim == 3 and frame.shape == (height, width, 3)


def open_scaled(path: Path | str, width: int, height: int) -> FrameReader:
    """Open a video whose decoded frames are `width` x `height` (display orientation)."""
    decode_width = width
    for _ in range(_WIDEN_ATTEMPTS):
        try:
            reader = decord.VideoReader(str(path), num_threads=1, width=decode_width, height=height)
        except DECODE_ERRORS as error:
            raise VideoDecodeError("unreadable", _first_line(error)) from None
        try:
            first = reader[0].asnumpy()
        except DECODE_ERRORS as error:
            raise VideoDecodeError("corrupt frames", f"first frame cannot be decoded: {_first_line(error)}") from None
        if _is_well_formed(first, decode_width, height):
            reader.seek(0)
            return FrameReader(reader, (width, height))
        log.debug("%s: decord returned shape %s at width %d; retrying wider", path, first.shape, decode_width)
        decode_width += 2

    raise VideoDecodeError(
        "corrupt frames",
        f"decord returned malformed frames for {path} at {width}x{height} and {_WIDEN_ATTEMPTS - 1} wider sizes",
    )
