"""The `openai` backend: read each pair's response from the cache, or request it with bounded concurrency."""

import asyncio
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
from tqdm import tqdm

from instructmove.errors import StageError
from instructmove.instruct.cache import ResponseCache, cache_key
from instructmove.instruct.client import PairClient, RequestFailed
from instructmove.instruct.images import file_digest
from instructmove.instruct.limits import RequestPacer
from instructmove.instruct.prompt import PromptTemplate, load_prompt
from instructmove.instruct.secrets import read_api_key, redacted_logging
from instructmove.instruct.settings import InstructSettings
from instructmove.instruct.table import empty_result

log = logging.getLogger(__name__)

# Failed pairs are logged one by one up to this count, then only counted in the metrics.
LOGGED_FAILURES = 20


def resolve_cache_dir(cache_dir: str) -> Path:
    """Resolve a relative cache path against the repository root.

    `dvc exp run --temp` and `--queue` run stages in a temporary copy and set DVC_ROOT to the
    original root; resolving there keeps paid responses across experiments.
    """
    path = Path(cache_dir).expanduser()
    if path.is_absolute():
        return path
    return Path(os.environ.get("DVC_ROOT", ".")) / path


def instruct_pairs(pairs: list[dict], settings: InstructSettings) -> tuple[dict[str, dict], dict]:
    """Return a result row per pair id and the run counters (requests, retries, tokens, cache hits)."""
    prompt = load_prompt(settings.prompt_version)
    secret = read_api_key(settings)
    cache = ResponseCache(resolve_cache_dir(settings.cache_dir))
    try:
        with redacted_logging(secret):
            return _instruct_with_cache(pairs, settings, prompt, secret, cache)
    finally:
        cache.close()


def _instruct_with_cache(pairs, settings, prompt, secret, cache) -> tuple[dict[str, dict], dict]:
    results: dict[str, dict] = {}
    keys: dict[str, str] = {}
    for pair in tqdm(pairs, desc="instruct: hashing frames", unit="pair", disable=len(pairs) < 1000):
        try:
            keys[pair["pair_id"]] = cache_key(file_digest(pair["source_path"]), file_digest(pair["target_path"]),
                                              settings, prompt.hash)
        except OSError as error:
            log.warning("instruct: pair %s failed: frame not readable: %s", pair["pair_id"], error)
            results[pair["pair_id"]] = _frame_error(settings, prompt, error)

    cached = cache.get_many(list(keys.values()))
    hits = 0
    for pair_id, key in keys.items():
        if key in cached:
            results[pair_id] = _row_from_cache(cached[key], settings, prompt)
            hits += 1
    pending = [pair for pair in pairs if pair["pair_id"] not in results]
    log.info("instruct: %d of %d pairs answered from the cache at %s; requesting %d from %s (model %s)",
             hits, len(pairs), cache.path, len(pending), settings.base_url, settings.model)

    stats: Counter = Counter(cache_hits=hits)
    if pending:
        answered, request_stats = _run_coroutine(_request_all(pending, keys, settings, prompt, secret, cache))
        results.update(answered)
        stats.update(request_stats)
    return results, dict(stats)


async def _request_all(pending, keys, settings, prompt, secret, cache) -> tuple[dict[str, dict], Counter]:
    """Run max_in_flight workers over the pending pairs, and cache each ok or declined row as it arrives."""
    client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=secret, timeout=settings.timeout_s, max_retries=0)
    pair_client = PairClient(client, settings, prompt, RequestPacer(settings.requests_per_minute), secret)
    results: dict[str, dict] = {}
    queue = iter(pending)
    progress = tqdm(total=len(pending), desc="instruct: requesting", unit="pair")
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for pair in queue:
            row, cacheable = await pair_client.instruct(pair)
            if cacheable:
                cache.put(keys[pair["pair_id"]], pair["pair_id"], row)
            elif row["status"] == "failed":
                failures += 1
                level = logging.WARNING if failures <= LOGGED_FAILURES else logging.DEBUG
                log.log(level, "instruct: pair %s failed: %s", pair["pair_id"], row["error"][:300])
            results[pair["pair_id"]] = row
            progress.update(1)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(settings.max_in_flight, len(pending))):
                group.create_task(worker())
    except* RequestFailed as errors:
        fatal = errors.exceptions[0]
        raise StageError(
            f"{fatal} from {settings.base_url} (model {settings.model}). Every request would fail the same way: "
            f"check instruct.base_url, instruct.model and the key in environment variable {settings.api_key_env}. "
            f"{len(cache)} answers are cached in {cache.path}."
        ) from None
    finally:
        progress.close()
        await client.close()

    if pair_client.retries_by_category:
        log.info("instruct: retries per error: %s", dict(pair_client.retries_by_category))
    return results, pair_client.stats


def _run_coroutine(coroutine):
    """Run a coroutine to completion, in a new thread when this one already runs an event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _row_from_cache(answer: dict, settings: InstructSettings, prompt: PromptTemplate) -> dict:
    return empty_result(**{**answer, "backend": "openai", "model": settings.model,
                           "prompt_version": prompt.version, "prompt_hash": prompt.hash})


def _frame_error(settings: InstructSettings, prompt: PromptTemplate, error: OSError) -> dict:
    return empty_result(backend="openai", model=settings.model, prompt_version=prompt.version,
                        prompt_hash=prompt.hash, status="failed", error=f"FrameError: {error}")
