"""Ask an OpenAI-compatible multimodal model for one pair's instruction, with retries and one repair."""

import asyncio
import json
import logging
import random
from collections import Counter

import openai

from instructmove.instruct.images import frame_data_url
from instructmove.instruct.limits import RequestPacer, backoff_delay, retry_after_seconds
from instructmove.instruct.prompt import PromptTemplate, pair_messages, repair_messages
from instructmove.instruct.reply import ReplyError, parse_reply
from instructmove.instruct.secrets import redact
from instructmove.instruct.settings import InstructSettings
from instructmove.instruct.table import empty_result

log = logging.getLogger(__name__)

# Every request would fail the same way, so the stage stops instead of failing each pair.
FATAL_STATUSES = (401, 403, 404)
RETRYABLE_STATUSES = (408, 409, 429)
# Retries are logged one by one up to this count per error category, then only counted.
LOGGED_RETRIES_PER_CATEGORY = 10
REPAIR_SEPARATOR = "\n--- reply to the repair request ---\n"


class RequestFailed(Exception):
    """A request that failed for good; the message starts with the error category."""

    def __init__(self, category: str, detail: str, fatal: bool = False):
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.fatal = fatal


def classify(error: Exception) -> tuple[str, bool, bool]:
    """Return (category, retryable, fatal) for an exception raised by the openai client."""
    if isinstance(error, openai.APITimeoutError):
        return "APITimeoutError", True, False
    if isinstance(error, openai.APIConnectionError):
        return "APIConnectionError", True, False
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        category = f"{type(error).__name__} (HTTP {status})"
        return category, status in RETRYABLE_STATUSES or status >= 500, status in FATAL_STATUSES
    # openai 3.60 raises JSONDecodeError for a 200 response whose body is not JSON.
    if isinstance(error, openai.APIResponseValidationError | json.JSONDecodeError):
        return "InvalidResponseBody", True, False
    return type(error).__name__, False, False


class PairClient:
    """Sends the requests of single pairs through a shared pacer, and counts what it sends."""

    def __init__(self, client: openai.AsyncOpenAI, settings: InstructSettings, prompt: PromptTemplate,
                 pacer: RequestPacer, secret: str):
        self.client = client
        self.settings = settings
        self.prompt = prompt
        self.pacer = pacer
        self.secret = secret
        self.stats: Counter = Counter()
        self.retries_by_category: Counter = Counter()
        self.rng = random.Random(settings.seed)

    async def complete(self, messages: list[dict]):
        """Send one chat completion request, retrying transient faults; return the response."""
        settings = self.settings
        extra = {"response_format": {"type": "json_object"}} if settings.json_mode else {}
        for attempt in range(settings.max_attempts):
            await self.pacer.wait()
            self.stats["sent"] += 1
            try:
                response = await self.client.chat.completions.create(
                    model=settings.model, messages=messages, temperature=settings.temperature,
                    max_tokens=settings.max_tokens, seed=settings.seed, **extra,
                )
            except (openai.APIError, json.JSONDecodeError) as error:
                category, retryable, fatal = classify(error)
                detail = redact(str(error), self.secret)
                if not retryable or attempt + 1 == settings.max_attempts:
                    raise RequestFailed(category, detail, fatal) from None
                await self._wait_before_retry(attempt, category, detail, getattr(error, "response", None))
                continue

            if response.usage is not None:
                self.stats["prompt_tokens"] += response.usage.prompt_tokens or 0
                self.stats["completion_tokens"] += response.usage.completion_tokens or 0
            if response.choices:
                return response
            if attempt + 1 == settings.max_attempts:
                raise RequestFailed("EmptyChoices", "the server returned a response with no choices")
            await self._wait_before_retry(attempt, "EmptyChoices", "the server answered with no choices", None)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _wait_before_retry(self, attempt: int, category: str, detail: str, response) -> None:
        settings = self.settings
        requested = retry_after_seconds(response.headers) if response is not None else None
        if requested is not None and requested > settings.retry_after_max_s:
            raise RequestFailed(category, f"Retry-After of {requested:.0f} s is above instruct.retry_after_max_s "
                                          f"({settings.retry_after_max_s:.0f} s); {detail}")
        if requested is not None:
            delay = requested + self.rng.uniform(0.0, 0.1 * requested + 0.05)
            self.pacer.pause(delay)
        else:
            delay = backoff_delay(attempt, settings.backoff_base_s, settings.backoff_max_s, self.rng)

        self.stats["retries"] += 1
        self.retries_by_category[category] += 1
        level = logging.WARNING if self.retries_by_category[category] <= LOGGED_RETRIES_PER_CATEGORY else logging.DEBUG
        log.log(level, "instruct: %s (%s); retry %d of %d in %.2f s",
                category, detail[:200], attempt + 1, settings.max_attempts - 1, delay)
        await asyncio.sleep(delay)

    async def instruct(self, pair: dict) -> tuple[dict, bool]:
        """Return the pair's result row and whether it may be cached (ok or declined)."""
        settings = self.settings
        try:
            source_url, target_url = await asyncio.to_thread(self._encode_frames, pair)
        except OSError as error:
            return self._failed(f"FrameError: {error}"), False

        messages = pair_messages(self.prompt, source_url, target_url)
        tokens = [0, 0]
        try:
            first = await self.complete(messages)
            text = _reply_text(first)
            tokens = _usage(first)
            try:
                reply = parse_reply(text)
            except ReplyError as error:
                self.stats["repairs"] += 1
                log.debug("instruct: pair %s: invalid reply (%s); sending one repair request", pair["pair_id"], error)
                second = await self.complete(repair_messages(messages, self.prompt, text or "", str(error)))
                repaired_text = _reply_text(second)
                tokens = [a + b for a, b in zip(tokens, _usage(second), strict=True)]
                try:
                    reply = parse_reply(repaired_text)
                    text = repaired_text
                except ReplyError as repair_error:
                    raw = f"{text}{REPAIR_SEPARATOR}{repaired_text}"
                    message = f"InvalidReply: {error}; after the repair request: {repair_error}"
                    return self._failed(message, raw=raw, tokens=tokens), False
        except RequestFailed as error:
            if error.fatal:
                raise
            # The tokens of a first reply whose repair request failed were still billed.
            return self._failed(str(error), tokens=tokens), False

        return self._answer(reply, text, tokens), True

    def _encode_frames(self, pair: dict) -> tuple[str, str]:
        side, quality = self.settings.max_image_side, self.settings.jpeg_quality
        return frame_data_url(pair["source_path"], side, quality), frame_data_url(pair["target_path"], side, quality)

    def _row(self, **values) -> dict:
        return empty_result(backend="openai", model=self.settings.model, prompt_version=self.prompt.version,
                            prompt_hash=self.prompt.hash, **values)

    def _failed(self, error: str, raw: str | None = None, tokens=(0, 0)) -> dict:
        return self._row(status="failed", error=redact(error, self.secret), raw_response=redact(raw, self.secret),
                         prompt_tokens=tokens[0], completion_tokens=tokens[1])

    def _answer(self, reply, text: str, tokens) -> dict:
        fields = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "raw_response": redact(text, self.secret)}
        if reply.declined:
            return self._row(status="declined", decline_reason=reply.decline_reason or "no reason given", **fields)
        return self._row(status="ok", instruction=reply.instruction, edit_type=reply.edit_type, subject=reply.subject,
                         caption_before=reply.caption_before, caption_after=reply.caption_after, **fields)


def _reply_text(response) -> str | None:
    message = response.choices[0].message
    if message is None:
        return None
    if not message.content and getattr(message, "refusal", None):
        return json.dumps({"declined": True, "decline_reason": f"refusal: {message.refusal}"})
    return message.content


def _usage(response) -> list[int]:
    usage = response.usage
    if usage is None:
        return [0, 0]
    return [usage.prompt_tokens or 0, usage.completion_tokens or 0]
