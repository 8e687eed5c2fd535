"""Results table and grids: formatting, missing values and layout."""

import numpy as np
from helpers_evaluate import noise_image
from PIL import Image

from instructmove.evaluate.report import TEXT_HEIGHT, make_grid, results_markdown, results_table
from instructmove.evaluate.settings import METRIC_NAMES


def _entry(**values):
    return {"examples": 2, **dict.fromkeys(METRIC_NAMES), **values, "counts": {}}


def test_table_has_row_per_method():
    table = results_table({"instructmove": _entry(psnr=21.456), "identity": _entry(psnr=18.0, l1=0.12345)})
    lines = table.splitlines()
    assert lines[0].startswith("| method | examples | PSNR (dB)")
    assert lines[2].startswith("| instructmove | 2 | 21.46 |")
    assert "| identity | 2 | 18.00 | n/a | 0.1235 |" in lines[3]


def test_table_marks_missing_metrics():
    table = results_table({"identity": _entry()})
    assert table.splitlines()[2].count("n/a") == len(METRIC_NAMES)


def test_markdown_states_clip_reason_and_size():
    context = {"benchmark": "bench.jsonl", "examples": 2, "resolution": (32, 32),
               "clip": {"computed": False, "reason": "evaluate.clip_model is null", "model": None}}
    page = results_markdown({"identity": _entry()}, context)
    assert "CLIP metrics not computed: evaluate.clip_model is null." in page
    assert "at 32x32 px" in page
    assert "not the InstructMove paper's CLIP-Inst" in page


def test_grid_layout_and_blank_target():
    sources = [noise_image(0, (16, 16)), noise_image(1, (16, 16))]
    targets = [noise_image(2, (16, 16)), None]
    grid = make_grid([("source", sources), ("edit", sources), ("target", targets)], ["Raise the arm", "Turn"], cell=32)

    assert grid.size == (3 * 32, TEXT_HEIGHT + 2 * (32 + TEXT_HEIGHT))
    second_row_target = grid.crop((64, TEXT_HEIGHT + (32 + TEXT_HEIGHT) + TEXT_HEIGHT, 96, grid.height))
    assert np.all(np.asarray(second_row_target) == 255)


def test_grid_enlarges_with_nearest_neighbour():
    source = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8))
    grid = make_grid([("source", [source])], ["x"], cell=32)
    cell = np.asarray(grid)[2 * TEXT_HEIGHT:, :]
    assert tuple(cell[5, 3]) == (255, 0, 0)
    assert tuple(cell[5, 20]) == (0, 0, 255)
