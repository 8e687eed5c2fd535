"""Request pacing and retry delays: requests per minute, exponential backoff with jitter, Retry-After."""

import asyncio
import datetime
import email.utils
import random
import time


class RequestPacer:
    """Space request starts at least 60 / requests_per_minute seconds apart, and hold them during a pause.

    A pause starts when the server responds with 429 and Retry-After, so every worker waits, not
    only the one that received it.
    """

    def __init__(self, requests_per_minute: float):
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self._next_start = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Sleep until this request may start."""
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start, self._paused_until)
            self._next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold every request that has not started yet for `seconds`."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Return a full-jitter exponential delay: uniform in [0, min(max_s, base_s * 2**attempt)]."""
    return rng.uniform(0.0, min(max_s, base_s * 2 ** attempt))


def retry_after_seconds(headers) -> float | None:
    """Read the server's requested delay from retry-after-ms or Retry-After (seconds or an HTTP date)."""
    if headers is None:
        return None

    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass

    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass

    # An unparseable value is ignored, so the retry falls back to exponential backoff.
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        # HTTP dates are in UTC, but "-0000" parses to a naive datetime, which timestamp() reads as local time.
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, parsed.timestamp() - time.time())
