"""Stage metrics: counts per status, tokens, estimated cost, and the failure-rate gate."""

from collections import Counter

import pandas as pd

from instructmove.errors import StageError
from instructmove.instruct.settings import InstructSettings
from instructmove.instruct.table import STATUSES


def error_category(error: str) -> str:
    """Return the part of an error text before the first colon, e.g. 'RateLimitError (HTTP 429)'."""
    return error.split(":", 1)[0].strip() or "unknown error"


def dominant_errors(triplets: pd.DataFrame, top: int = 3) -> list[tuple[str, int]]:
    """Return the most frequent error categories of the failed rows, most frequent first."""
    errors = triplets.loc[triplets["status"] == "failed", "error"].dropna()
    return Counter(error_category(error) for error in errors).most_common(top)


def estimate_cost(settings: InstructSettings, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Return the estimated cost in US dollars, or None when the model has no price."""
    price = settings.prices.get(settings.model)
    if price is None:
        return None
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000


def summarise(triplets: pd.DataFrame, settings: InstructSettings, run_stats: dict) -> dict:
    """Build metrics/instruct.json from the triplets table and the counters of this run."""
    counts = triplets["status"].value_counts()
    total = len(triplets)
    failed = int(counts.get("failed", 0))
    prompt_tokens = int(triplets["prompt_tokens"].sum())
    completion_tokens = int(triplets["completion_tokens"].sum())

    metrics = {
        "backend": settings.backend,
        "pairs": total,
        "status": {status: int(counts.get(status, 0)) for status in STATUSES},
        "failure_rate": failed / total if total else 0.0,
        "tokens": {"prompt": prompt_tokens, "completion": completion_tokens},
        # A list, not a mapping, so error categories never become MLflow metric names.
        "errors": [{"error": category, "count": count} for category, count in dominant_errors(triplets, top=10)],
    }
    if settings.backend == "flow":
        return metrics

    spent_prompt = run_stats.get("prompt_tokens", 0)
    spent_completion = run_stats.get("completion_tokens", 0)
    metrics.update(
        model=settings.model,
        requests={key: run_stats.get(key, 0) for key in ("sent", "retries", "repairs", "cache_hits")},
        tokens_this_run={"prompt": spent_prompt, "completion": spent_completion},
        estimated_cost_usd=estimate_cost(settings, prompt_tokens, completion_tokens),
        estimated_cost_this_run_usd=estimate_cost(settings, spent_prompt, spent_completion),
    )
    return metrics


def check_failure_rate(triplets: pd.DataFrame, settings: InstructSettings, cache_note: str) -> None:
    """Raise StageError when the share of failed pairs is above instruct.max_failure_rate."""
    total = len(triplets)
    failed = int((triplets["status"] == "failed").sum())
    if total == 0 or failed / total <= settings.max_failure_rate:
        return

    errors = ", ".join(f"{category} x{count}" for category, count in dominant_errors(triplets))
    raise StageError(
        f"{failed} of {total} pairs failed ({failed / total:.1%}), above instruct.max_failure_rate = "
        f"{settings.max_failure_rate}. Most frequent errors: {errors}. {cache_note}"
    )
