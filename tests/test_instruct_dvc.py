"""The response cache survives DVC removing and rebuilding the stage's outputs."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from helpers_fake_openai import FakeOpenAIServer
from helpers_instruct import make_pairs
from helpers_project import make_project

KEY_ENV = "INSTRUCTMOVE_TEST_API_KEY"


def dvc_repro(root: Path, *args: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", KEY_ENV: "sk-test-dvc"}
    result = subprocess.run([str(bin_dir / "dvc"), "repro", *args, "-s", "instruct"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_forced_repro_reuses_cache(tmp_path):
    root = tmp_path / "project"
    with FakeOpenAIServer() as server:
        make_project(root, [], overrides=[
            "instruct.backend=openai", f"instruct.base_url={server.base_url}", f"instruct.api_key_env={KEY_ENV}",
        ])
        make_pairs(root, 3)

        dvc_repro(root)
        first = pd.read_parquet(root / "data" / "triplets.parquet")
        requests_first_run = len(server.requests)
        server.reset_counts()

        dvc_repro(root, "-f")
        second = pd.read_parquet(root / "data" / "triplets.parquet")

    assert requests_first_run == 3
    assert len(server.requests) == 0
    assert (root / ".cache" / "instruct" / "responses.sqlite").is_file()
    assert (first["status"] == "ok").all()
    pd.testing.assert_frame_equal(first, second)
