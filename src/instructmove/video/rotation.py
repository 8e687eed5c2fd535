"""Read the display rotation of an MP4 or QuickTime file from its track header.

Phones record portrait video as landscape pixels plus a rotation in the `tkhd` matrix of the
video track. Other containers (MPEG-PS, AVI, Matroska) report 0 here.
"""

import math
import struct
from pathlib import Path

_MAX_BOXES = 10_000


def _iter_boxes(handle, start: int, end: int):
    """Yield (type, payload_start, payload_end) for each box in [start, end)."""
    position = start
    for _ in range(_MAX_BOXES):
        if position + 8 > end:
            return
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = position + 8
        if size == 1:
            extended = handle.read(8)
            if len(extended) < 8:
                return
            size = struct.unpack(">Q", extended)[0]
            payload = position + 16
        elif size == 0:
            size = end - position
        if size < payload - position:
            return
        yield kind, payload, min(position + size, end)
        position += size


def _read_matrix(handle, start: int) -> tuple[float, float] | None:
    """Return (a, b) of the tkhd matrix, the cosine and sine terms of the rotation."""
    handle.seek(start)
    version = handle.read(1)
    if not version:
        return None
    # version 1 stores creation time, modification time and duration on 64 bits.
    skip = 3 + (32 if version[0] == 1 else 20) + 16
    handle.seek(start + 1 + skip)
    raw = handle.read(8)
    if len(raw) < 8:
        return None
    a, b = struct.unpack(">ii", raw)
    return a / 65536.0, b / 65536.0


def _handler_type(handle, mdia_start: int, mdia_end: int) -> bytes | None:
    for kind, start, _ in _iter_boxes(handle, mdia_start, mdia_end):
        if kind == b"hdlr":
            handle.seek(start + 8)
            return handle.read(4)
    return None


def _video_track_matrix(handle, trak_start: int, trak_end: int) -> tuple[float, float] | None:
    matrix = None
    handler = None
    for kind, start, end in _iter_boxes(handle, trak_start, trak_end):
        if kind == b"tkhd":
            matrix = _read_matrix(handle, start)
        elif kind == b"mdia":
            handler = _handler_type(handle, start, end)
    return matrix if handler == b"vide" else None


def read_rotation(path: Path | str) -> int:
    """Return the clockwise rotation, in degrees (0, 90, 180 or 270), that displays the video upright.

    Files that are not MP4/QuickTime, or whose header cannot be parsed, report 0.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        for kind, start, end in _iter_boxes(handle, 0, size):
            if kind != b"moov":
                continue
            for child, child_start, child_end in _iter_boxes(handle, start, end):
                if child != b"trak":
                    continue
                matrix = _video_track_matrix(handle, child_start, child_end)
                if matrix is not None:
                    angle = math.degrees(math.atan2(matrix[1], matrix[0]))
                    return int(round(angle / 90.0)) * 90 % 360
            return 0
    return 0
