"""Find new videos in the inbox folder or a manifest and add them to the corpus atomically.

A video is new when its content (sha256) is not in the corpus yet, whatever its name. Each
file is copied to a hidden `.partial` name in the corpus folder and then renamed, so the
corpus never contains a half-copied video: a rename within one filesystem is atomic.
"""

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from instructmove.errors import StageError

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Addition:
    source: Path
    target: Path
    digest: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 of files keyed by path, reused while the size and mtime stay the same."""

    def __init__(self, entries: dict | None = None):
        self.entries = dict(entries or {})

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        cached = self.entries.get(key)
        if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
            return cached[2]
        value = sha256_file(path)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, value]
        return value

    def prune(self, keep: set[str]) -> None:
        self.entries = {key: value for key, value in self.entries.items() if key in keep}


def list_videos(folder: Path, extensions: list[str]) -> list[Path]:
    """Video files under `folder`, recursively, in sorted order; hidden files are skipped."""
    if not folder.is_dir():
        return []
    suffixes = {extension.lower() for extension in extensions}
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith(".")
    )


def read_manifest(manifest: Path, extensions: list[str]) -> list[Path]:
    """Video paths listed one per line; relative paths are resolved against the manifest's folder."""
    if not manifest.is_file():
        raise StageError(f"retrain.manifest: file {manifest} not found; create it or set retrain.manifest: null")
    paths = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(text) if Path(text).is_absolute() else manifest.parent / text
        if not path.is_file():
            log.warning("%s:%d: video %s not found; skipped", manifest, number, path)
        elif path.suffix.lower() not in {extension.lower() for extension in extensions}:
            log.warning("%s:%d: %s is not one of ingest.extensions %s; skipped", manifest, number, path, extensions)
        else:
            paths.append(path)
    return paths


def plan_additions(candidates: list[Path], corpus: list[Path], corpus_dir: Path, hashes: HashCache) -> list[Addition]:
    """Pick the candidates whose content is not in the corpus yet, and give each a free name there."""
    known = {hashes.digest(path) for path in corpus}
    used_names = {path.name for path in corpus_dir.iterdir()} if corpus_dir.is_dir() else set()
    additions = []
    for source in candidates:
        digest = hashes.digest(source)
        if digest in known:
            continue
        name = source.name
        if name in used_names:
            name = f"{source.stem}-{digest[:8]}{source.suffix}"
        known.add(digest)
        used_names.add(name)
        additions.append(Addition(source=source, target=corpus_dir / name, digest=digest))
    return additions


def copy_atomically(source: Path, target: Path) -> None:
    """Copy to a hidden temporary name beside `target`, flush it to disk, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}"
    try:
        shutil.copyfile(source, temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_partials(corpus_dir: Path) -> list[Path]:
    """Delete temporary copies that an interrupted run left behind; call only while holding the run lock."""
    if not corpus_dir.is_dir():
        return []
    leftovers = sorted(corpus_dir.rglob(f".*{PARTIAL_SUFFIX}"))
    for path in leftovers:
        path.unlink(missing_ok=True)
        log.info("removed %s, a partial copy left by an interrupted run", path)
    return leftovers
