"""The benchmark loader (a malformed row fails with its line number) and the held-out video check."""

import json

import pandas as pd
import pytest
from helpers_evaluate import write_benchmark

from instructmove.errors import StageError
from instructmove.evaluate.benchmark import find_benchmark_file, load_benchmark
from instructmove.evaluate.holdout import check_held_out


def test_loader_reads_rows(tmp_path):
    write_benchmark(tmp_path, count=2)
    examples = load_benchmark(tmp_path)
    assert [e.example_id for e in examples] == ["pair-0", "pair-1"]
    assert examples[0].source == (tmp_path / "images" / "0_source.png").resolve()
    assert examples[0].target.is_file()
    assert examples[0].caption_after == "a person looking to the left"
    assert examples[1].line == 2


def test_loader_accepts_minimal_row(tmp_path):
    write_benchmark(tmp_path, count=1)
    path = tmp_path / "benchmark.jsonl"
    path.write_text(json.dumps({"source": "images/0_source.png", "instruction": "Raise the arm"}) + "\n")
    example = load_benchmark(path)[0]
    assert example.example_id == "line-1"
    assert example.target is None
    assert example.caption_before is None


def test_loader_skips_blank_lines(tmp_path):
    write_benchmark(tmp_path, count=1, extra_lines=["", "   "])
    assert len(load_benchmark(tmp_path)) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"source": "images/0_source.png"}), "instruction: Field required"),
        (json.dumps({"source": "images/0_source.png", "instruction": "   "}), "must not be empty"),
        (json.dumps({"source": 5, "instruction": "Raise the arm"}), "source: Input should be a valid string"),
        (json.dumps({"source": "images/missing.png", "instruction": "Raise the arm"}), "source image 'images/missing.png' not found"),
        (json.dumps({"source": "images/0_source.png", "instruction": "Raise the arm", "mask": "nope.png"}), "mask image"),
        (json.dumps({"source": "images/0_source.png", "instruction": "Raise it", "pair_id": "pair-0"}), "repeats line 1"),
    ],
)
def test_loader_rejects_malformed_row_with_line(tmp_path, line, message):
    write_benchmark(tmp_path, count=2, extra_lines=[line])
    with pytest.raises(StageError) as error:
        load_benchmark(tmp_path)
    assert "benchmark.jsonl:3:" in str(error.value)
    assert message in str(error.value)


def test_loader_rejects_empty_file(tmp_path):
    (tmp_path / "benchmark.jsonl").write_text("\n")
    with pytest.raises(StageError, match="no examples"):
        load_benchmark(tmp_path)


def test_find_benchmark_missing_folder(tmp_path):
    with pytest.raises(StageError, match="not found"):
        find_benchmark_file(tmp_path / "absent")


def test_find_benchmark_single_other_name(tmp_path):
    (tmp_path / "mine.jsonl").write_text("")
    assert find_benchmark_file(tmp_path) == tmp_path / "mine.jsonl"


def test_find_benchmark_ambiguous_folder(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.jsonl").write_text("")
    with pytest.raises(StageError, match="exactly one .jsonl"):
        find_benchmark_file(tmp_path)


def _with_video_ids(folder, video_ids):
    path = write_benchmark(folder, count=len(video_ids))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row, video_id in zip(rows, video_ids):
        row["video_id"] = video_id
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return load_benchmark(path)


def test_held_out_videos_pass(tmp_path):
    examples = _with_video_ids(tmp_path, ["v1", "v2"])
    pd.DataFrame({"video_id": ["v3", "v4"]}).to_parquet(tmp_path / "train.parquet")
    assert check_held_out(examples, tmp_path / "train.parquet") is True


def test_shared_video_is_rejected(tmp_path):
    examples = _with_video_ids(tmp_path, ["v1", "v2"])
    pd.DataFrame({"video_id": ["v2", "v4"]}).to_parquet(tmp_path / "train.parquet")
    with pytest.raises(StageError, match="also appear in"):
        check_held_out(examples, tmp_path / "train.parquet")


def test_held_out_unknown_without_video_ids(tmp_path):
    write_benchmark(tmp_path, count=1)
    pd.DataFrame({"video_id": ["v1"]}).to_parquet(tmp_path / "train.parquet")
    assert check_held_out(load_benchmark(tmp_path), tmp_path / "train.parquet") is None


def test_held_out_unknown_without_train_table(tmp_path):
    examples = _with_video_ids(tmp_path, ["v1"])
    assert check_held_out(examples, tmp_path / "absent.parquet") is None
