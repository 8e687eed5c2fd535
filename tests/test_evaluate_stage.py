"""The evaluate stage end to end on a small benchmark with an untrained tiny pipeline and a real MLflow store."""

import json

import mlflow
import numpy as np
import pytest
import torch
from helpers_evaluate import noise_image, save_tiny_clip, save_tiny_ip2p, write_benchmark
from mlflow.tracking import MlflowClient
from PIL import Image

from instructmove.config import parse_params
from instructmove.errors import StageError

torch.set_num_threads(1)


def _params(tmp_path, **evaluate):
    raw = {
        "model": {"preset": "tiny-pixel", "resolution": 16},
        "evaluate": {"num_inference_steps": 2, "max_examples": 3, "batch_size": 2, "grid_cell": 32, **evaluate},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "artifact_dir": str(tmp_path / "mlruns"),
                     "experiment": "evaluate-test"},
    }
    return parse_params(raw)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder with a benchmark, a saved untrained pipeline and a tiny CLIP, shared by the module."""
    from instructmove.model.components import build_pipeline

    root = tmp_path_factory.mktemp("project")
    write_benchmark(root / "data" / "dataset" / "benchmark", count=3)
    params = _params(root)
    build_pipeline(params.model).save_pretrained(root / "models" / "pipeline")
    save_tiny_clip(root / "clip")
    return root


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("INSTRUCTMOVE_MLFLOW_RUN_ID", raising=False)
    yield project
    mlflow.end_run()


def test_stage_without_clip_writes_outputs(in_project):
    from instructmove.evaluate.stage import run

    metrics = run(_params(in_project))

    written = json.loads((in_project / "metrics" / "evaluate.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    assert written["examples"] == 3
    assert written["held_out_by_video"] is None
    assert written["resolution"] == [16, 16]
    assert set(written["methods"]) == {"instructmove", "identity"}
    assert written["clip"]["computed"] is False
    assert "evaluate.clip_model is null" in written["clip"]["reason"]
    assert written["methods"]["instructmove"]["clip_i"] is None
    assert written["methods"]["identity"]["psnr"] > 0
    assert written["methods"]["identity"]["counts"]["target"] == 3

    results = (in_project / "data" / "evaluation" / "results.md").read_text()
    assert "| identity | 3 |" in results
    assert "CLIP metrics not computed" in results

    with Image.open(in_project / "data" / "evaluation" / "grid.png") as grid:
        assert grid.width == 4 * 32  # source | instructmove | identity | target
    for method in ("instructmove", "identity"):
        assert (in_project / "data" / "evaluation" / f"grid_{method}.png").is_file()


def test_stage_logs_tables_and_promotes(in_project):
    from instructmove.evaluate.stage import run

    params = _params(in_project)
    metrics = run(params)

    decision = metrics["promotion"]
    assert decision["promoted"] is True
    client = MlflowClient(tracking_uri=params.tracking.uri, registry_uri=params.tracking.uri)
    champion = client.get_model_version_by_alias("instructmove", "champion")
    assert str(champion.version) == decision["version"]

    runs = mlflow.search_runs(experiment_names=["evaluate-test"], output_format="list")
    artifacts = {item.path for item in client.list_artifacts(runs[0].info.run_id, "evaluation")}
    assert "evaluation/results.json" in artifacts
    assert "evaluation/grid_instructmove.png" in artifacts
    assert "evaluation/grid.png" in artifacts
    assert runs[0].data.tags["promotion.promoted"] == "true"
    assert runs[0].data.metrics["methods.identity.psnr"] == pytest.approx(metrics["methods"]["identity"]["psnr"])


def test_stage_with_clip_reports_clip_metrics(in_project):
    from instructmove.evaluate.stage import run

    metrics = run(_params(in_project, clip_model=str(in_project / "clip"), promotion={"enabled": False}))

    assert metrics["clip"]["computed"] is True
    assert metrics["methods"]["identity"]["clip_i"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["methods"]["identity"]["clip_d"] == 0.0
    assert metrics["methods"]["instructmove"]["counts"]["captions"] == 3
    assert metrics["promotion"] is None


def test_stage_missing_pipeline_fails_readably(in_project):
    from instructmove.evaluate.stage import run

    with pytest.raises(StageError, match="Run the train stage first"):
        run(_params(in_project, pipeline_dir="models/absent", promotion={"enabled": False}))


def test_ip2p_editor_runs_local_weights(project):
    from instructmove.evaluate.methods import InstructPix2PixEditor
    from instructmove.evaluate.settings import EvaluateSettings

    folder = save_tiny_ip2p(project / "ip2p")
    settings = EvaluateSettings(num_inference_steps=2, baselines={"ip2p_dir": str(folder), "ip2p_resolution": 64})
    editor = InstructPix2PixEditor(folder, settings)
    sources = [noise_image(1, (80, 80)), noise_image(2, (80, 80))]

    first = editor.edit(sources, ["raise the arm", "turn left"], [None, None])
    second = editor.edit(sources, ["raise the arm", "turn left"], [None, None])

    assert [image.size for image in first] == [(64, 64), (64, 64)]
    assert np.array_equal(np.asarray(first[0]), np.asarray(second[0]))


def test_ip2p_editor_rejects_folder_without_index(tmp_path):
    from instructmove.evaluate.methods import InstructPix2PixEditor
    from instructmove.evaluate.settings import EvaluateSettings

    with pytest.raises(StageError, match="no model_index.json"):
        InstructPix2PixEditor(tmp_path, EvaluateSettings())


def test_stage_with_baseline_has_one_table(in_project):
    from instructmove.evaluate.stage import run

    folder = in_project / "ip2p"
    if not folder.is_dir():
        save_tiny_ip2p(folder)
    baselines = {"ip2p_dir": str(folder), "ip2p_resolution": 64}
    metrics = run(_params(in_project, baselines=baselines, promotion={"enabled": False}))

    assert list(metrics["methods"]) == ["instructmove", "instructpix2pix", "identity"]
    assert metrics["methods"]["instructpix2pix"]["counts"]["target"] == 3
    results = (in_project / "data" / "evaluation" / "results.md").read_text()
    assert "| instructpix2pix | 3 |" in results
    assert (in_project / "data" / "evaluation" / "grid_instructpix2pix.png").is_file()


def test_champion_reevaluated_under_new_protocol(in_project):
    from instructmove.evaluate.stage import run

    first = run(_params(in_project, num_inference_steps=2))["promotion"]
    second = run(_params(in_project, num_inference_steps=3))

    decision = second["promotion"]
    assert first["promoted"] is True
    assert decision["champion_version"] == first["version"]
    assert decision["champion_reevaluated"] is True
    assert decision["same_protocol"] is True
    # Same weights, same seeds, same protocol: the re-evaluated champion scores what the candidate scores.
    assert decision["champion_value"] == pytest.approx(second["methods"]["instructmove"]["psnr"])
    assert decision["champion_value"] != pytest.approx(first["candidate_value"])


def test_protocol_digest_covers_batch_size(tmp_path):
    from instructmove.evaluate.stage import _protocol_digest

    benchmark = tmp_path / "benchmark.jsonl"
    benchmark.write_text('{"source": "a.png", "instruction": "Raise the arm"}\n')
    small = _protocol_digest(benchmark, 1, _params(tmp_path, batch_size=2).evaluate, (16, 16))
    large = _protocol_digest(benchmark, 1, _params(tmp_path, batch_size=4).evaluate, (16, 16))

    assert small != large


def test_protocol_digest_covers_scoring_size(tmp_path):
    from instructmove.evaluate.stage import _protocol_digest

    benchmark = tmp_path / "benchmark.jsonl"
    benchmark.write_text('{"source": "a.png", "instruction": "Raise the arm"}\n')
    settings = _params(tmp_path).evaluate

    assert _protocol_digest(benchmark, 1, settings, (16, 16)) != _protocol_digest(benchmark, 1, settings, (32, 32))
