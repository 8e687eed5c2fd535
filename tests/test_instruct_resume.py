"""A stage process killed with SIGKILL resumes from its cache and requests only the missing pairs."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import yaml

from helpers_fake_openai import FakeOpenAIServer
from helpers_instruct import make_pairs, openai_params, pair_fingerprint
from instructmove import layout
from instructmove.instruct.cache import FILE_NAME
from instructmove.instruct.stage import run

PAIRS = 30
KILL_AFTER_ANSWERS = 8
KEY_ENV = "INSTRUCTMOVE_TEST_API_KEY"


def cached_pair_ids(cache_file) -> set[str]:
    if not cache_file.exists():
        return set()
    with sqlite3.connect(cache_file, timeout=10) as db:
        try:
            return {row[0] for row in db.execute("SELECT pair_id FROM answers")}
        except sqlite3.OperationalError:
            return set()


def wait_for_answers(process, cache_file, count: int, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(cached_pair_ids(cache_file)) < count:
        assert process.poll() is None, f"the stage exited early with code {process.returncode}"
        assert time.monotonic() < deadline, f"fewer than {count} answers cached after {timeout_s} s"
        time.sleep(0.05)


def test_kill_and_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY_ENV, "sk-test-resume")
    pairs = make_pairs(tmp_path, PAIRS)
    cache_file = tmp_path / ".cache" / "instruct" / FILE_NAME

    with FakeOpenAIServer(latency_s=0.15) as server:
        params = openai_params(tmp_path, server.base_url, api_key_env=KEY_ENV, max_in_flight=2)
        raw = {"instruct": params.section("instruct"), "tracking": params.section("tracking")}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))

        process = subprocess.Popen(
            [sys.executable, "-m", "instructmove", "--params", "params.yaml", "instruct"],
            cwd=tmp_path, env={**os.environ, "INSTRUCTMOVE_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_answers(process, cache_file, KILL_AFTER_ANSWERS)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

        answered_before_kill = cached_pair_ids(cache_file)
        first_run_requests = len(server.requests)
        table_after_kill = layout.TRIPLETS_TABLE.exists()
        server.reset_counts()
        run(params)

    by_fingerprint = {pair_fingerprint(tmp_path, row, params.instruct): row["pair_id"]
                      for row in pairs.to_dict("records")}
    requested_on_resume = {by_fingerprint[seen.fingerprint] for seen in server.requests}
    triplets = pd.read_parquet(layout.TRIPLETS_TABLE)

    assert process.returncode == -signal.SIGKILL
    assert KILL_AFTER_ANSWERS <= len(answered_before_kill) < PAIRS
    assert first_run_requests < PAIRS
    assert not table_after_kill
    assert requested_on_resume == set(pairs["pair_id"]) - answered_before_kill
    assert len(server.requests) == PAIRS - len(answered_before_kill)
    assert (triplets["status"] == "ok").all()
    assert len(triplets) == PAIRS
