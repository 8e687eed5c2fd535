"""Logging set-up shared by the CLI and the flows."""

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """Log to stderr with timestamps; INSTRUCTMOVE_LOG_LEVEL overrides the level."""
    level = level or os.environ.get("INSTRUCTMOVE_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("urllib3", "httpx", "httpx2", "httpcore", "git", "alembic", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
