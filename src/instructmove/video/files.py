"""Find video files and give each one a content-hash id."""

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def scan(folder: Path, extensions: list[str]) -> tuple[list[Path], list[Path]]:
    """Return (videos, ignored): files under `folder` by extension, both sorted; hidden files are ignored."""
    videos, ignored = [], []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.name.startswith(".") or path.suffix.lower() not in extensions:
            ignored.append(path)
        else:
            videos.append(path)
    return videos, ignored


def content_hash(path: Path) -> str:
    """Return the first 16 hex digits of the file's sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def display_path(path: Path) -> str:
    """Return the path relative to the working directory (the repository root) when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(Path.cwd()))).as_posix()
    except ValueError:
        return os.fspath(absolute)
