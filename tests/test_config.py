"""params.yaml loading: defaults validate, and bad values fail with key, value and fix."""

import re
from pathlib import Path

import pytest
import yaml

from instructmove.config import ConfigError, load_params, parse_params
from instructmove.overrides import apply_overrides

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def _raw() -> dict:
    return yaml.safe_load(REPO_PARAMS.read_text())


def test_repository_params_are_valid():
    params = load_params(REPO_PARAMS)
    assert params.instruct.backend == "flow"
    assert params.section("validate") == _raw()["validate"]


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("pairs", "gap_s", -1, "greater than 0"),
        ("model", "preset", "huge", "tiny-pixel"),
        ("train", "max_steps", "many", "integer"),
        ("pairs", "no_such_key", 1, "unknown key"),
        ("instruct", "base_url", "localhost:8000/v1", "must be an http:// or https:// URL"),
    ],
)
def test_invalid_value_names_key_and_value(section, key, value, fragment):
    raw = _raw()
    raw[section][key] = value
    with pytest.raises(ConfigError) as caught:
        parse_params(raw, "params.yaml")
    message = str(caught.value)
    assert f"{section}.{key} = {value!r}" in message
    assert fragment in message
    assert "Fix these keys in params.yaml" in message


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "params.yaml")


def test_override_keeps_comments(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text())
    apply_overrides(path, ["pairs.gap_s=0.5", "ingest.videos_dir=/footage"])
    text = path.read_text()
    assert "# time between the source and the target frame" in text
    params = load_params(path)
    assert params.pairs.gap_s == 0.5
    assert params.ingest.videos_dir == "/footage"


def test_invalid_override_writes_nothing(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text())
    with pytest.raises(ConfigError, match="pairs.gap_s"):
        apply_overrides(path, ["pairs.gap_s=-3"])
    assert path.read_text() == REPO_PARAMS.read_text()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("ingest.videos_dir.sub=1", "ingest.videos_dir is a value, not a section"),
        ("ingest.videos_dir.sub.deeper=1", "section ingest.videos_dir.sub not found"),
        ("nosuch.key=1", "section nosuch not found"),
        ("pairs.gap_s=[1", "invalid YAML"),
    ],
)
def test_override_on_wrong_path_names_it(tmp_path, override, fragment):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text())

    with pytest.raises(ConfigError, match=re.escape(fragment)):
        apply_overrides(path, [override])

    assert path.read_text() == REPO_PARAMS.read_text()


def test_override_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        apply_overrides(tmp_path / "params.yaml", ["pairs.gap_s=0.5"])


def test_invalid_log_level_names_value():
    from instructmove.logs import setup_logging

    with pytest.raises(SystemExit, match="invalid log level 'VERBOSE'"):
        setup_logging("verbose")


@pytest.mark.parametrize(
    ("artifact_dir", "expected"),
    [("s3://bucket/mlruns", "s3://bucket/mlruns"), ("mlruns", "{root}/mlruns")],
)
def test_tracking_artifact_location(tmp_path, artifact_dir, expected):
    from mlflow.tracking import MlflowClient

    from instructmove import tracking

    settings = parse_params({"tracking": {"uri": "sqlite:///mlflow.db", "artifact_dir": artifact_dir,
                                          "experiment": "artifacts"}}).tracking
    experiment_id = tracking.configure(settings, tmp_path)

    client = MlflowClient(tracking.resolve_uri(settings.uri, tmp_path))
    location = client.get_experiment(experiment_id).artifact_location
    assert location.removeprefix("file://") == expected.format(root=tmp_path.resolve())


def test_champion_names_must_match():
    raw = _raw()
    raw["train"]["init_from"] = "champion"
    raw["train"]["registered_model_name"] = "editor-a"
    raw["evaluate"]["promotion"]["registered_model"] = "editor-b"
    with pytest.raises(ConfigError) as caught:
        parse_params(raw, "params.yaml")
    assert "train.registered_model_name" in str(caught.value)
    assert "editor-b" in str(caught.value)


def test_override_changes_only_its_line(tmp_path):
    path = tmp_path / "params.yaml"
    original = REPO_PARAMS.read_text()
    path.write_text(original)
    apply_overrides(path, ["ingest.videos_dir=/footage/new", "evaluate.promotion.margin=0.5"])
    changed = [pair for pair in zip(original.splitlines(), path.read_text().splitlines()) if pair[0] != pair[1]]
    assert len(changed) == 2
    assert changed[0][1].startswith("  videos_dir: /footage/new ")
    assert "# folder scanned" in changed[0][1]
    assert changed[1][1].strip().startswith("margin: 0.5")


def test_override_of_multiline_value_still_applies(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text())
    apply_overrides(path, ["validate.refusal_patterns=['(?i)sorry']"])
    assert load_params(path).validate_.refusal_patterns == ["(?i)sorry"]
