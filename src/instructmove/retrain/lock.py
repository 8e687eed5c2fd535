"""An exclusive lock per project, so two retrain runs never change the corpus or models at once.

The lock is `fcntl.flock` on a file in the state folder. The kernel releases it when the
holding process exits, even on SIGKILL, so an interrupted run never leaves a stale lock.
Linux and macOS only.
"""

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 0.5


class RunLock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle = None

    def acquire(self, wait_s: float = 0.0) -> bool:
        """Take the lock, waiting up to `wait_s` seconds; return False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return False
                time.sleep(POLL_S)

        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> str:
        """Describe the process named in the lock file, for log messages."""
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "unknown process"
        if not info:
            return "unknown process"
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.get("since", 0)))
        return f"pid {info.get('pid')} on {info.get('host')} since {since}"

    def release(self) -> None:
        if self._handle is None:
            return
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
