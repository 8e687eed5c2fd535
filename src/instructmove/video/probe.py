"""Probe one video with decord: size, rotation, frame count, duration and a decode check.

Runs inside an isolated child process (see `isolation`). Container headers can claim frames that
never decode, so the frame count and duration come from the last frame that actually decodes.
"""

from pathlib import Path

import numpy as np

from instructmove.video.reader import DECODE_ERRORS, VideoDecodeError, open_native
from instructmove.video.rotation import read_rotation
from instructmove.video.timestamps import frame_duration, repair_timestamps


def _decodes(reader, index: int) -> bool:
    try:
        reader[index]
    except DECODE_ERRORS:
        return False
    return True


def _last_decodable(reader, count: int) -> int:
    """Return the index of the last frame that decodes, assuming a damaged tail is contiguous."""
    if _decodes(reader, count - 1):
        return count - 1
    good, bad = 0, count - 1
    while bad - good > 1:
        middle = (good + bad) // 2
        if _decodes(reader, middle):
            good = middle
        else:
            bad = middle
    return good


def _read_rotation(path: Path) -> int:
    try:
        return read_rotation(path)
    except OSError:
        return 0


def probe_video(path: str, check_frames: int) -> dict:
    """Return the probe facts of one video, or raise VideoDecodeError when it cannot be decoded."""
    file = Path(path)
    if file.stat().st_size == 0:
        raise VideoDecodeError("unreadable", "the file is empty (0 bytes)")

    reader = open_native(file)
    header_frames = len(reader)
    if header_frames == 0:
        raise VideoDecodeError("unreadable", "the video stream contains no frames")

    try:
        first = reader[0].asnumpy()
    except DECODE_ERRORS as error:
        raise VideoDecodeError("corrupt frames", f"the first frame cannot be decoded: {error}") from None
    height, width = first.shape[:2]

    last = _last_decodable(reader, header_frames)
    num_frames = last + 1
    sample = np.unique(np.linspace(0, last, num=min(check_frames, num_frames)).round().astype(int))
    # Seeking into damaged packets can leave decord's decoder state broken, and then intact frames
    # fail too. So the sample uses a fresh reader, and each failure is retried on another one.
    reader = open_native(file)
    failed = [int(index) for index in sample if not _decodes(reader, int(index))]
    failed = [index for index in failed if not _decodes(open_native(file), index)]
    if len(failed) * 2 > len(sample):
        raise VideoDecodeError(
            "corrupt frames", f"{len(failed)} of {len(sample)} sampled frames fail to decode (indices {failed})"
        )

    header_fps = float(reader.get_avg_fps())
    times = repair_timestamps(reader.get_frame_timestamp(list(range(num_frames)))[:, 0], header_fps)
    duration = float(times[-1] + frame_duration(times)) if num_frames > 1 else 0.0
    return {
        "fps": round(num_frames / duration if duration > 0 else header_fps, 4),
        "num_frames": num_frames,
        "header_num_frames": header_frames,
        "width": int(width),
        "height": int(height),
        "duration_s": round(duration, 4),
        "rotation": _read_rotation(file),
    }


def check_facts(facts: dict, min_duration_s: float, min_side: int) -> tuple[str, str] | None:
    """Return (reason, message) when a decodable video is still unusable, else None."""
    if facts["num_frames"] < 2 or facts["duration_s"] < min_duration_s:
        return "too short", (
            f"{facts['num_frames']} decodable frames, {facts['duration_s']:.2f} s; "
            f"ingest.min_duration_s is {min_duration_s}"
        )
    if min(facts["width"], facts["height"]) < min_side:
        return "too small", f"{facts['width']}x{facts['height']} px; ingest.min_side is {min_side}"
    return None
