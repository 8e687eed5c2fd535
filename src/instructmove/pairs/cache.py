"""Per-video cache of mining results, keyed by the video's content hash and the mining settings.

Layout: `.cache/pairs/<video_id>/<settings key>/result.json` plus `frames/*.jpg`. A new video, or
a changed setting that decides which pairs come out, misses the cache; execution settings
(executor, workers, timeouts) do not.
"""

import hashlib
import json
import logging
import shutil
from pathlib import Path

from instructmove import layout
from instructmove.video.ingest import PROBE_VERSION

log = logging.getLogger(__name__)

# Bump when mining code changes what it returns for the same settings, so cached results are redone.
MINING_VERSION = 1


def settings_key(mining_values: dict) -> str:
    """Return a short hash of the mining settings and the mining code version."""
    # Mining reads the probe facts from videos.parquet, so a probe change must miss the cache too.
    text = json.dumps({"version": MINING_VERSION, "probe": PROBE_VERSION, "settings": mining_values}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def entry_dir(video_id: str, key: str, root: Path = layout.PAIRS_CACHE) -> Path:
    return root / video_id / key


def load(video_id: str, key: str, root: Path = layout.PAIRS_CACHE) -> dict | None:
    """Return the cached result (without frame bytes), or None on a miss."""
    file = entry_dir(video_id, key, root) / "result.json"
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        log.warning("%s: unreadable cache entry (%s); mining this video again", file, error)
        return None


def store(result: dict, key: str, root: Path = layout.PAIRS_CACHE) -> dict:
    """Write a mining result and its frames atomically; return the result without frame bytes."""
    final = entry_dir(result["video_id"], key, root)
    temporary = final.with_name(final.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    (temporary / "frames").mkdir(parents=True)

    for name, data in result["frames"].items():
        (temporary / "frames" / name).write_bytes(data)
    stored = {key_: value for key_, value in result.items() if key_ != "frames"}
    stored["frame_files"] = sorted(result["frames"])
    (temporary / "result.json").write_text(json.dumps(stored, indent=1))

    shutil.rmtree(final, ignore_errors=True)
    temporary.rename(final)
    return stored


def frame_file(video_id: str, key: str, name: str, root: Path = layout.PAIRS_CACHE) -> Path:
    return entry_dir(video_id, key, root) / "frames" / name
