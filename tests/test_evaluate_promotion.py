"""Promotion in a real MLflow SQLite registry: champion alias, challenger tag, margin and ties."""

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from instructmove.evaluate.promotion import (
    CHAMPION,
    ROLE_TAG,
    beats,
    promote,
    read_registration,
    resolve_model,
)
from instructmove.evaluate.settings import PromotionSettings



@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module: creating its tables takes seconds."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("promotion-test")
    yield uri
    mlflow.end_run()
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def client(store):
    return MlflowClient(tracking_uri=store, registry_uri=store)


@pytest.fixture
def name(request):
    """A registered model name per test, so one test's champion never affects another test."""
    return "editor-" + request.node.name.replace("[", "-").replace("]", "")


def _new_version(client, tmp_path, name):
    folder = tmp_path / "pipeline"
    folder.mkdir(exist_ok=True)
    (folder / "model_index.json").write_text("{}")
    with mlflow.start_run() as run:
        return resolve_model(client, folder, name, run.info.run_id)


def _evaluate(client, tmp_path, name, psnr, margin=0.0, higher_is_better=True, metric="psnr", protocol="bench-a"):
    ref = _new_version(client, tmp_path, name)
    settings = PromotionSettings(metric=metric, margin=margin, higher_is_better=higher_is_better)
    decision = promote(client, ref, {"psnr": psnr, "l1": 1.0 / psnr, "clip_d": None}, settings, protocol)
    return ref, decision


def _champion_version(client, name):
    return str(client.get_model_version_by_alias(name, CHAMPION).version)


def test_first_model_becomes_champion(client, name, tmp_path):
    ref, decision = _evaluate(client, tmp_path, name, psnr=20.0)
    assert decision["promoted"] is True
    assert decision["reason"] == "no champion yet"
    assert _champion_version(client, name) == ref.version


def test_better_model_becomes_champion(client, name, tmp_path):
    first, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    second, decision = _evaluate(client, tmp_path, name, psnr=21.0)
    assert decision["promoted"] is True
    assert decision["improvement"] == pytest.approx(1.0)
    assert decision["champion_value"] == pytest.approx(20.0)
    assert _champion_version(client, name) == second.version
    assert client.get_model_version(name, first.version).tags[ROLE_TAG] == "former champion"
    assert client.get_model_version(name, second.version).tags[ROLE_TAG] == CHAMPION


def test_worse_model_is_challenger(client, name, tmp_path):
    first, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    second, decision = _evaluate(client, tmp_path, name, psnr=19.0)
    assert decision["promoted"] is False
    assert _champion_version(client, name) == first.version
    assert client.get_model_version(name, second.version).tags[ROLE_TAG] == "challenger"


def test_tie_promotes_with_zero_margin(client, name, tmp_path):
    _evaluate(client, tmp_path, name, psnr=20.0)
    second, decision = _evaluate(client, tmp_path, name, psnr=20.0, margin=0.0)
    assert decision["promoted"] is True
    assert _champion_version(client, name) == second.version


def test_tie_stays_challenger_with_positive_margin(client, name, tmp_path):
    first, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    _, decision = _evaluate(client, tmp_path, name, psnr=20.0, margin=0.1)
    assert decision["promoted"] is False
    assert _champion_version(client, name) == first.version


def test_gain_below_margin_stays_challenger(client, name, tmp_path):
    first, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    _, decision = _evaluate(client, tmp_path, name, psnr=20.4, margin=0.5)
    assert decision["promoted"] is False
    assert _champion_version(client, name) == first.version


def test_lower_is_better_metric(client, name, tmp_path):
    _evaluate(client, tmp_path, name, psnr=20.0, metric="l1", higher_is_better=False)
    second, decision = _evaluate(client, tmp_path, name, psnr=25.0, metric="l1", higher_is_better=False)
    assert decision["promoted"] is True
    assert _champion_version(client, name) == second.version


def test_metric_not_computed_is_challenger(client, name, tmp_path):
    first, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    _, decision = _evaluate(client, tmp_path, name, psnr=30.0, metric="clip_d")
    assert decision["promoted"] is False
    assert "not computed" in decision["reason"]
    assert _champion_version(client, name) == first.version


def test_same_protocol_is_flagged(client, name, tmp_path):
    _evaluate(client, tmp_path, name, psnr=20.0)
    _, same = _evaluate(client, tmp_path, name, psnr=19.0)
    _, other = _evaluate(client, tmp_path, name, psnr=21.0, protocol="bench-b")
    assert same["same_protocol"] is True
    assert other["same_protocol"] is False
    assert other["promoted"] is True


def test_metrics_recorded_as_version_tags(client, name, tmp_path):
    ref, _ = _evaluate(client, tmp_path, name, psnr=20.0)
    tags = client.get_model_version(name, ref.version).tags
    assert float(tags["evaluate.psnr"]) == pytest.approx(20.0)
    assert tags["evaluate.protocol_sha256"] == "bench-a"
    assert "evaluate.clip_d" not in tags


def test_registration_file_is_used(client, name, tmp_path):
    ref = _new_version(client, tmp_path, name)
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "registration.json").write_text(json.dumps({"name": name, "version": ref.version, "run_id": "r"}))
    with mlflow.start_run() as run:
        found = resolve_model(client, folder, "other-name", run.info.run_id)
    assert (found.name, found.version) == (name, ref.version)


def test_registration_unknown_to_registry_registers_again(client, name, tmp_path):
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "registration.json").write_text(json.dumps({"name": "elsewhere", "version": 7}))
    assert read_registration(folder).version == "7"
    with mlflow.start_run() as run:
        found = resolve_model(client, folder, name, run.info.run_id)
    assert found.name == name
    assert found.version == "1"
    assert client.get_model_version(name, "1").source.endswith("/pipeline")


@pytest.mark.parametrize(
    ("candidate", "champion", "higher", "margin", "expected"),
    [(1.0, 1.0, True, 0.0, True), (1.0, 1.0, True, 1e-9, False), (0.9, 1.0, False, 0.1, True), (1.0, 0.5, False, 0.0, False)],
)
def test_beats_table(candidate, champion, higher, margin, expected):
    assert beats(candidate, champion, higher, margin)[0] is expected


class _EchoModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        return model_input


def test_logged_but_unregistered_model_is_registered(client, name, tmp_path):
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="pipeline", python_model=_EchoModel(), pip_requirements=[])
    record = {"name": None, "version": None, "run_id": run.info.run_id, "model_uri": info.model_uri}
    (folder / "registration.json").write_text(json.dumps(record))
    with mlflow.start_run() as evaluate_run:
        found = resolve_model(client, folder, name, evaluate_run.info.run_id)
    assert found.version == "1"
    assert found.run_id == run.info.run_id
    assert client.get_model_version(name, "1").run_id == run.info.run_id


@pytest.mark.parametrize(("metric", "higher_is_better"), [("l1", True), ("psnr", False)])
def test_settings_reject_wrong_direction(metric, higher_is_better):
    with pytest.raises(ValueError, match=f"Set higher_is_better: {str(not higher_is_better).lower()}"):
        PromotionSettings(metric=metric, higher_is_better=higher_is_better)
