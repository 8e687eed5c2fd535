"""Synthetic clips for the ingest and pairs tests, and worker functions that misbehave on purpose.

Clips are written with the ffmpeg binary that imageio-ffmpeg ships (libx264), so they go through
the same decoder as real videos. The misbehaving workers must live in an importable module,
because the isolated child process unpickles them by name.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import yaml

from instructmove.config import Params, parse_params
from instructmove.pairs.mine import mine_video
from instructmove.video.probe import probe_video

REPO_ROOT = Path(__file__).resolve().parents[1]
CRASH_MARKER = "crash"
HANG_MARKER = "hang"


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg binary; raise with its stderr on failure."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr}")


def texture(width: int, height: int, seed: int) -> np.ndarray:
    """Return a smooth random RGB texture, so optical flow has structure to follow everywhere."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    image = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (5, 5), 0)


def moving_square_frame(width: int, height: int, t: float, seed: int = 0, speed: float = 20.0) -> np.ndarray:
    """Return the frame at time `t`: a fixed texture with a textured, white-outlined square moving right at `speed` px/s."""
    frame = texture(width, height, seed)
    side = max(12, height // 2)
    patch = texture(side, side, seed + 1000)
    patch[:3, :], patch[-3:, :], patch[:, :3], patch[:, -3:] = 255, 255, 255, 255
    x = int(round(8 + speed * t)) % max(1, width - side)
    y = height // 2 - side // 2
    frame[y:y + side, x:x + side] = patch
    return frame


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """Encode RGB frames as H.264 with a keyframe every 10 frames."""
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, macro_block_size=1,
                                         output_params=["-g", "10"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame).tobytes())
    writer.close()
    return path


def motion_clip(path: Path, seconds: float = 3.0, fps: float = 10.0, size=(160, 128), seed: int = 0) -> Path:
    """Write a clip with a square moving over a textured background."""
    width, height = size
    frames = [moving_square_frame(width, height, index / fps, seed) for index in range(int(seconds * fps))]
    return write_clip(path, frames, fps)


def static_clip(path: Path, seconds: float = 3.0, fps: float = 10.0, size=(160, 128), seed: int = 0) -> Path:
    """Write a clip where nothing moves."""
    width, height = size
    frame = texture(width, height, seed)
    return write_clip(path, [frame] * int(seconds * fps), fps)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> Path:
    """One MLflow SQLite store for the video and pairs tests; creating a store takes seconds."""
    return tmp_path_factory.mktemp("mlflow_store")


def make_params(store: Path, videos_dir: Path, **pairs) -> Params:
    """Return params with the repository's ingest and pairs sections, the videos folder, the MLflow
    store in `store`, and pairs overrides. Other sections keep their defaults."""
    repository = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw = {
        "ingest": {**repository["ingest"], "videos_dir": str(videos_dir)},
        "pairs": {**repository["pairs"], **pairs},
        "tracking": {"uri": f"sqlite:///{store / 'mlflow.db'}", "artifact_dir": str(store / "mlruns")},
    }
    return parse_params(raw)


def probe_or_crash(path: str, check_frames: int) -> dict:
    """Probe like the stage does, but die by SIGKILL on files named *crash* and hang on *hang*."""
    if CRASH_MARKER in Path(path).name:
        os.kill(os.getpid(), signal.SIGKILL)
    if HANG_MARKER in Path(path).name:
        time.sleep(600)
    return probe_video(path, check_frames)


def mine_or_exit(video: dict, settings_values: dict) -> dict:
    """Mine like the stage does, but leave through os._exit on files named *crash*."""
    if CRASH_MARKER in Path(video["path"]).name:
        os._exit(3)
    return mine_video(video, settings_values)


def corrupt_clip(source: Path, path: Path, start: float, end: float) -> Path:
    """Copy a clip with the bytes between the fractions `start` and `end` of the file replaced by noise.

    When the range leaves the container index alone, decord opens the file and raises only on
    the frames whose packets were overwritten.
    """
    data = bytearray(source.read_bytes())
    first, last = int(len(data) * start), int(len(data) * end)
    data[first:last] = np.random.default_rng(0).integers(0, 256, last - first, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path
