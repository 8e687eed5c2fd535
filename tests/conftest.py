"""Shared fixtures: offline environment, isolated Prefect and MLflow stores, real video folders."""

import logging
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# No test may reach a hub or send telemetry; set before any library reads them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("DO_NOT_TRACK", "1")

# Prefect logs the stop of its temporary server at interpreter exit, after pytest closed its
# streams. Without this flag, logging prints a traceback for that message after the summary.
logging.raiseExceptions = False


@pytest.fixture(scope="session", autouse=True)
def _prefect_home(tmp_path_factory):
    """Give the test session its own PREFECT_HOME so no user state leaks in or out."""
    home = tmp_path_factory.mktemp("prefect_home")
    previous = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("PREFECT_HOME", None)
    else:
        os.environ["PREFECT_HOME"] = previous


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store for one test; returns its URI."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.end_run()


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The real clips in ../shared/data/videos; tests that need them skip when it is absent."""
    folder = SHARED_DATA / "videos"
    if not folder.is_dir():
        pytest.skip(f"real clips not found at {folder}; these tests need the shared video folder")
    return folder


@pytest.fixture(scope="session")
def shared_awkward() -> Path:
    """The awkward real files in ../shared/data/awkward; skip when absent."""
    folder = SHARED_DATA / "awkward"
    if not folder.is_dir():
        pytest.skip(f"awkward clips not found at {folder}; these tests need the shared video folder")
    return folder
