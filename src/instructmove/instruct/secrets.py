"""The API key: read from the configured environment variable, and kept out of every log line."""

import contextlib
import logging
import os
from collections.abc import Iterator
from urllib.parse import urlparse

from instructmove.errors import StageError
from instructmove.instruct.settings import InstructSettings

log = logging.getLogger(__name__)

# Sent when no key is set: the openai client requires one, and local servers ignore it.
PLACEHOLDER_KEY = "no-key-set"
REDACTED = "[redacted]"
HOSTS_REQUIRING_KEY = ("api.openai.com",)


def read_api_key(settings: InstructSettings) -> str:
    """Return the key from the environment variable named by instruct.api_key_env, or a placeholder."""
    # A key read from a file often ends in a newline, which httpx rejects as an illegal header value.
    value = os.environ.get(settings.api_key_env, "").strip()
    if value:
        log.info("instruct: using the API key from environment variable %s", settings.api_key_env)
        return value

    host = urlparse(settings.base_url).hostname or ""
    if host in HOSTS_REQUIRING_KEY:
        raise StageError(
            f"environment variable {settings.api_key_env} (instruct.api_key_env) is not set, and "
            f"{settings.base_url} requires an API key. Export the key in that variable and run again."
        )
    log.info(
        "instruct: environment variable %s is not set; sending requests without an API key "
        "(local servers such as vLLM and Ollama accept that)", settings.api_key_env,
    )
    return PLACEHOLDER_KEY


def redact(text: str | None, secret: str) -> str | None:
    """Replace every occurrence of the secret in a text."""
    if text is None or not secret or secret == PLACEHOLDER_KEY:
        return text
    return text.replace(secret, REDACTED)


class RedactingFilter(logging.Filter):
    """Rewrite log records whose formatted message contains the secret."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = redact(message, self.secret), None
        return True


@contextlib.contextmanager
def redacted_logging(secret: str) -> Iterator[None]:
    """Attach a RedactingFilter to every handler of the root logger while the block runs."""
    if not secret or secret == PLACEHOLDER_KEY:
        yield
        return

    handlers = list(logging.getLogger().handlers)
    filter_ = RedactingFilter(secret)
    for handler in handlers:
        handler.addFilter(filter_)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(filter_)
