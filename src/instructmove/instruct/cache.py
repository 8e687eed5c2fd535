"""Response cache on disk: one SQLite row per pair, committed as each response arrives.

Each insert is its own transaction in WAL mode, so a process killed with SIGKILL keeps every
response it had received. Only a crash of the operating system may lose the last few. The cache lives
outside the DVC outputs so `dvc repro -f` and `dvc gc` leave it alone.
"""

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from instructmove.instruct.settings import InstructSettings

FILE_NAME = "responses.sqlite"
LOOKUP_CHUNK = 500


def cache_key(source_digest: str, target_digest: str, settings: InstructSettings, prompt_hash: str) -> str:
    """Hash the pair's content, the model, the prompt and every setting that changes the request."""
    parts = {
        "source": source_digest,
        "target": target_digest,
        "model": settings.model,
        "prompt_hash": prompt_hash,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
        "json_mode": settings.json_mode,
        "max_image_side": settings.max_image_side,
        "jpeg_quality": settings.jpeg_quality,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """Parsed responses keyed by cache_key. One thread at a time may use an instance."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers ("
            " key TEXT PRIMARY KEY, pair_id TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL)"
        )

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """Return the cached responses among `keys`."""
        found: dict[str, dict] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start:start + LOOKUP_CHUNK]
            placeholders = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, answer FROM answers WHERE key IN ({placeholders})", chunk)
            found.update((key, json.loads(answer)) for key, answer in rows)
        return found

    def put(self, key: str, pair_id: str, answer: dict) -> None:
        """Store one response and commit it at once."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers (key, pair_id, answer, created_at) VALUES (?, ?, ?, ?)",
            (key, pair_id, json.dumps(answer), time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()
