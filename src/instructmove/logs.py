"""Logging set-up shared by the CLI and the flows."""

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """Log to stderr with timestamps at `level`, else at INSTRUCTMOVE_LOG_LEVEL, else at INFO."""
    level = (level or os.environ.get("INSTRUCTMOVE_LOG_LEVEL", "INFO")).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise SystemExit(f"invalid log level {level!r} (--log-level or INSTRUCTMOVE_LOG_LEVEL): "
                         "use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("urllib3", "httpx", "httpx2", "httpcore", "git", "alembic", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
