"""The openai backend against a local OpenAI-compatible server, with the real openai client."""

import asyncio
import json
import logging

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import helpers_instruct
from helpers_fake_openai import COMPLETION_TOKENS, PROMPT_TOKENS, FakeOpenAIServer, Fault, answer_for
from helpers_instruct import make_pairs, openai_params, pair_fingerprint
from instructmove import layout
from instructmove.errors import StageError
from instructmove.instruct.prompt import load_prompt
from instructmove.instruct.stage import run

KEY_ENV = "INSTRUCTMOVE_TEST_API_KEY"


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module."""
    return tmp_path_factory.mktemp("mlflow_store")


@pytest.fixture
def project(tmp_path, monkeypatch, store):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY_ENV, "sk-test-0123456789")
    monkeypatch.setattr(helpers_instruct, "DEFAULT_STORE", store)
    return tmp_path


def run_stage(root, server, count=4, **overrides):
    """Write `count` pairs (once), run the stage, and return the pairs, the triplets and the metrics."""
    pairs = make_pairs(root, count) if not (root / layout.PAIRS_TABLE).exists() else pd.read_parquet(
        root / layout.PAIRS_TABLE)
    params = openai_params(root, server.base_url, api_key_env=KEY_ENV, **overrides)
    metrics = run(params)
    return pairs, pd.read_parquet(layout.TRIPLETS_TABLE), metrics, params


def fingerprints(root, pairs, params) -> list[str]:
    return [pair_fingerprint(root, row, params.instruct) for row in pairs.to_dict("records")]


def test_happy_path(project, server):
    pairs, triplets, metrics, params = run_stage(project, server, count=5)
    prompt = load_prompt("v1")
    expected = [answer_for(fp)["instruction"] for fp in fingerprints(project, pairs, params)]

    assert triplets["instruction"].tolist() == expected
    assert (triplets["status"] == "ok").all()
    assert (triplets["backend"] == "openai").all()
    assert (triplets["edit_type"] == "pose").all()
    assert (triplets["prompt_hash"] == prompt.hash).all()
    assert (triplets["prompt_version"] == "v1").all()
    assert (triplets["prompt_tokens"] == PROMPT_TOKENS).all()
    assert (triplets["completion_tokens"] == COMPLETION_TOKENS).all()
    assert metrics["estimated_cost_usd"] == pytest.approx(5 * (PROMPT_TOKENS * 2.5 + COMPLETION_TOKENS * 10.0) / 1e6)
    assert metrics["requests"] == {"sent": 5, "retries": 0, "repairs": 0, "cache_hits": 0}
    assert {seen.authorization for seen in server.requests} == {"Bearer sk-test-0123456789"}
    assert {seen.model for seen in server.requests} == {"gpt-4o"}


def test_rate_limit_honours_retry_after(project, server):
    pairs = make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    target = fingerprints(project, pairs, params)[0]
    server.fail_pair(target, Fault("429", retry_after=0.6))

    _, triplets, metrics, _ = run_stage(project, server)

    attempts = [seen.started for seen in server.requests if seen.fingerprint == target]
    assert (triplets["status"] == "ok").all()
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.6
    assert metrics["requests"]["retries"] == 1


def test_retry_after_above_ceiling_fails_pair(project, server):
    pairs = make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    server.fail_pair(fingerprints(project, pairs, params)[0], Fault("429", retry_after=120))

    _, triplets, metrics, _ = run_stage(project, server, retry_after_max_s=5, max_failure_rate=0.5)

    assert triplets["status"].tolist() == ["failed", "ok"]
    assert "Retry-After of 120 s" in triplets["error"].iloc[0]
    assert metrics["errors"] == [{"error": "RateLimitError (HTTP 429)", "count": 1}]


def test_server_error_then_success(project, server):
    server.fail_next(Fault("500"))

    _, triplets, metrics, _ = run_stage(project, server, count=3, max_in_flight=1)

    assert (triplets["status"] == "ok").all()
    assert metrics["requests"]["sent"] == 4
    assert metrics["requests"]["retries"] == 1


def test_timeout_is_retried(project, server):
    server.fail_next(Fault("timeout", delay=1.5))

    _, triplets, metrics, _ = run_stage(project, server, count=2, max_in_flight=1, timeout_s=0.4)

    assert (triplets["status"] == "ok").all()
    assert metrics["requests"]["retries"] == 1


def test_persistent_faults_keep_failed_rows(project, server):
    pairs = make_pairs(project, 4)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    prints = fingerprints(project, pairs, params)
    server.fail_pair(prints[0], Fault("timeout", delay=1.0), Fault("timeout", delay=1.0))
    server.fail_pair(prints[1], Fault("empty_choices"), Fault("empty_choices"))
    server.fail_pair(prints[2], Fault("invalid_body"), Fault("invalid_body"))

    _, triplets, metrics, _ = run_stage(project, server, max_attempts=2, timeout_s=0.3, max_failure_rate=1.0)

    assert triplets["pair_id"].tolist() == pairs["pair_id"].tolist()
    assert triplets["status"].tolist() == ["failed", "failed", "failed", "ok"]
    assert triplets["error"].iloc[0].startswith("APITimeoutError")
    assert triplets["error"].iloc[1].startswith("EmptyChoices")
    assert triplets["error"].iloc[2].startswith("InvalidResponseBody")
    assert metrics["status"]["failed"] == 3


def test_empty_choices_then_success(project, server):
    server.fail_next(Fault("empty_choices"))

    _, triplets, metrics, _ = run_stage(project, server, count=2, max_in_flight=1)

    assert (triplets["status"] == "ok").all()
    assert metrics["requests"]["retries"] == 1


def test_malformed_json_is_repaired(project, server):
    pairs = make_pairs(project, 3)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    prints = fingerprints(project, pairs, params)
    server.fail_pair(prints[0], Fault("malformed"))
    server.fail_pair(prints[1], Fault("schema"))
    server.fail_pair(prints[2], Fault("fenced"))

    _, triplets, metrics, _ = run_stage(project, server)

    repairs = [seen for seen in server.requests if seen.repair]
    assert (triplets["status"] == "ok").all()
    assert metrics["requests"]["repairs"] == 2
    assert {seen.fingerprint for seen in repairs} == {prints[0], prints[1]}
    assert repairs[0].body["messages"][1]["role"] == "assistant"
    assert triplets["prompt_tokens"].tolist() == [2 * PROMPT_TOKENS, 2 * PROMPT_TOKENS, PROMPT_TOKENS]


def test_null_message_fails_pair_only(project, server):
    pairs = make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    server.fail_pair(fingerprints(project, pairs, params)[0], Fault("null_message"), Fault("null_message"))

    _, triplets, _, _ = run_stage(project, server, max_failure_rate=0.5)

    assert triplets["status"].tolist() == ["failed", "ok"]
    assert triplets["error"].iloc[0].startswith("InvalidReply: the reply is empty")


def test_malformed_json_twice_fails_with_raw_text(project, server):
    pairs = make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    server.fail_pair(fingerprints(project, pairs, params)[0], Fault("malformed"), Fault("malformed"))

    _, triplets, _, _ = run_stage(project, server, max_failure_rate=0.5)
    failed = triplets.iloc[0]

    assert failed["status"] == "failed"
    assert failed["error"].startswith("InvalidReply")
    assert failed["raw_response"].count('"edit_type": ') == 2
    assert triplets["status"].iloc[1] == "ok"


def test_failed_repair_keeps_first_tokens(project, server):
    pairs = make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    server.fail_pair(fingerprints(project, pairs, params)[0], Fault("malformed"), Fault("500"), Fault("500"))

    _, triplets, _, _ = run_stage(project, server, max_attempts=2, max_failure_rate=0.5)

    assert triplets["status"].tolist() == ["failed", "ok"]
    assert triplets["error"].iloc[0].startswith("InternalServerError (HTTP 500)")
    assert triplets["prompt_tokens"].tolist() == [PROMPT_TOKENS, PROMPT_TOKENS]
    assert triplets["completion_tokens"].tolist() == [COMPLETION_TOKENS, COMPLETION_TOKENS]


def test_declined_pair_is_kept_and_not_retried(project, server):
    pairs = make_pairs(project, 3)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    server.fail_pair(fingerprints(project, pairs, params)[1], Fault("decline"))

    _, triplets, metrics, _ = run_stage(project, server)
    server.reset_counts()
    _, again, _, _ = run_stage(project, server)

    assert triplets["status"].tolist() == ["ok", "declined", "ok"]
    assert triplets["decline_reason"].iloc[1] == "the frames show two different scenes"
    assert pd.isna(triplets["instruction"].iloc[1])
    assert metrics["status"] == {"ok": 2, "declined": 1, "failed": 0}
    assert len(server.requests) == 0
    assert again["status"].tolist() == ["ok", "declined", "ok"]


def test_in_flight_limit_on_200_pairs(project):
    with FakeOpenAIServer(latency_s=0.02) as server:
        _, triplets, _, _ = run_stage(project, server, count=200, max_in_flight=4)

    assert len(triplets) == 200
    assert (triplets["status"] == "ok").all()
    assert len(server.requests) == 200
    assert server.max_in_flight == 4


def test_requests_per_minute(project, server):
    run_stage(project, server, count=6, max_in_flight=6, requests_per_minute=600)

    starts = sorted(seen.started for seen in server.requests)
    assert starts[-1] - starts[0] >= 5 * 0.1 * 0.9


def test_rerun_makes_zero_requests(project, server):
    _, first, _, _ = run_stage(project, server, count=6)
    layout.TRIPLETS_TABLE.unlink()
    server.reset_counts()

    _, second, metrics, _ = run_stage(project, server)

    assert len(server.requests) == 0
    assert metrics["requests"] == {"sent": 0, "retries": 0, "repairs": 0, "cache_hits": 6}
    assert metrics["estimated_cost_this_run_usd"] == 0
    pd.testing.assert_frame_equal(first, second)


def test_changed_generation_params_miss_cache(project, server):
    run_stage(project, server, count=3)
    server.reset_counts()

    run_stage(project, server, temperature=0.9)

    assert len(server.requests) == 3


def test_failure_rate_names_dominant_error(project, server):
    pairs = make_pairs(project, 10)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)
    for fp in fingerprints(project, pairs, params)[:3]:
        server.fail_pair(fp, Fault("500"), Fault("500"))

    with pytest.raises(StageError, match=r"3 of 10 pairs failed .*InternalServerError \(HTTP 500\) x3"):
        run_stage(project, server, max_attempts=2, max_failure_rate=0.2)

    triplets = pd.read_parquet(layout.TRIPLETS_TABLE)
    written = json.loads(layout.metrics_file("instruct").read_text())
    assert (triplets["status"] == "failed").sum() == 3
    assert written["errors"] == [{"error": "InternalServerError (HTTP 500)", "count": 3}]

    server.reset_counts()
    run_stage(project, server, max_failure_rate=0.2)
    assert len(server.requests) == 3


def test_authentication_error_stops_stage(project, server, caplog):
    server.fail_next(*[Fault("401", body="Incorrect API key provided: sk-test-0123456789")] * 8)

    with pytest.raises(StageError, match="HTTP 401") as raised:
        run_stage(project, server, count=3)

    assert "sk-test-0123456789" not in str(raised.value)
    assert "[redacted]" in str(raised.value)
    assert "sk-test-0123456789" not in caplog.text


def test_key_with_trailing_newline_is_stripped(project, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-0123456789\n")

    _, triplets, _, _ = run_stage(project, server, count=2)

    assert (triplets["status"] == "ok").all()
    assert {seen.authorization for seen in server.requests} == {"Bearer sk-test-0123456789"}


def test_missing_key_for_local_server(project, server, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV)
    caplog.set_level(logging.INFO)

    _, triplets, _, _ = run_stage(project, server, count=2)

    assert (triplets["status"] == "ok").all()
    assert f"environment variable {KEY_ENV} is not set" in caplog.text
    assert {seen.authorization for seen in server.requests} == {"Bearer no-key-set"}


def test_missing_key_for_openai_fails_early(project, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    make_pairs(project, 2)
    params = openai_params(project, "https://api.openai.com/v1", api_key_env=KEY_ENV)

    with pytest.raises(StageError, match=f"environment variable {KEY_ENV}"):
        run(params)


def test_missing_frame_fails_pair_only(project, server):
    pairs = make_pairs(project, 3)
    (project / pairs["target_path"].iloc[2]).unlink()

    _, triplets, _, _ = run_stage(project, server, max_failure_rate=0.5)

    assert triplets["status"].tolist() == ["ok", "ok", "failed"]
    assert triplets["error"].iloc[2].startswith("FrameError")
    assert len(server.requests) == 2


def test_tokens_and_cost_reach_mlflow(project, server):
    _, _, metrics, params = run_stage(project, server, count=2)

    client = MlflowClient(params.tracking.uri)
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    latest = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    logged = latest.data.metrics
    assert logged["tokens.prompt"] == 2 * PROMPT_TOKENS
    assert logged["tokens.completion"] == 2 * COMPLETION_TOKENS
    assert logged["estimated_cost_usd"] == pytest.approx(metrics["estimated_cost_usd"])
    assert logged["requests.sent"] == 2
    assert latest.data.tags["instruct.backend"] == "openai"
    assert latest.data.tags["instruct.model"] == "gpt-4o"


def test_stage_inside_running_event_loop(project, server):
    make_pairs(project, 2)
    params = openai_params(project, server.base_url, api_key_env=KEY_ENV)

    async def run_from_notebook_cell():
        return run(params)

    metrics = asyncio.run(run_from_notebook_cell())

    assert metrics["status"]["ok"] == 2
