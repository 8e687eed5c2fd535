"""The validate stage's quality gate on small real triplet tables with JPEG frames on disk."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from helpers_validate import good_rows, triplet_row, write_triplets
from instructmove import cli, layout
from instructmove.config import ConfigError, parse_params
from instructmove.errors import StageError
from instructmove.validate import expectations, gate, stage, verdict

# pair_id -> checks it must fail; an empty set means the row is accepted.
EXPECTED = {
    "video00_0": set(), "video00_1": set(), "video01_0": set(), "video01_1": set(),
    "video02_0": set(), "video02_1": set(),
    "null_caption": {"not_null"},
    "two_words": {"instruction_words"},
    "long_word": {"instruction_chars"},
    "no_verb": {"instruction_verb"},
    "apology": {"not_refusal"},
    "fast_flow": {"flow_window"},
    "missing_frame": {"frames_decode"},
    "wrong_size": {"frames_decode"},
    "corrupt_frame": {"frames_decode"},
    "frozen": {"pixel_difference"},
    "repeat_0": set(), "repeat_1": set(), "repeat_2": set(), "repeat_3": {"instruction_repeats"},
    "busy_0": set(), "busy_1": set(), "busy_2": set(), "busy_3": set(), "busy_4": set(),
    "busy_5": {"pairs_per_video"},
}


def bad_rows(root: Path) -> list[dict]:
    """One row for each kind of defect, plus rows that the stage must only count."""
    rows = [
        triplet_row(root, "null_caption", "video10", caption_after=None),
        triplet_row(root, "two_words", "video10", t_source=1, instruction="Move rightwards"),
        triplet_row(root, "long_word", "video10", t_source=2, instruction="Move the " + "x" * 200),
        triplet_row(root, "no_verb", "video10", t_source=3, instruction="The square goes to the right"),
        triplet_row(root, "apology", "video11", instruction="Turn it, sorry, I cannot describe this change"),
        triplet_row(root, "fast_flow", "video11", t_source=1, flow_mean=500.0),
        triplet_row(root, "missing_frame", "video11", t_source=2),
        triplet_row(root, "wrong_size", "video11", t_source=3, width=80),
        triplet_row(root, "corrupt_frame", "video12"),
        triplet_row(root, "frozen", "video12", t_source=1, offset=0),
        triplet_row(root, "declined", "video12", t_source=2, status="declined", instruction=None),
        triplet_row(root, "failed", "video12", t_source=3, status="failed", instruction=None),
    ]
    rows[6]["source_path"] = "data/pairs/frames/does_not_exist.jpg"
    (root / rows[8]["target_path"]).write_bytes(b"not a jpeg at all")

    for index in range(4):
        rows.append(triplet_row(root, f"repeat_{index}", "video13", t_source=float(index),
                                instruction="Pan the camera to the left", offset=4 + index))
    for index in range(6):
        rows.append(triplet_row(root, f"busy_{index}", "video14", t_source=float(index),
                                instruction=f"Move the square {index + 2} pixels right", offset=4 + index))
    return rows


def make_params(root: Path, **validate):
    settings = {"max_pairs_per_video": 5, **validate}
    return parse_params({"validate": settings, "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}"}})


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """Run the gate once on the table of bad rows; return (root, result)."""
    root = tmp_path_factory.mktemp("gate")
    rows = good_rows(root) + bad_rows(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = stage.validate_triplets(pd.DataFrame(rows), make_params(root))
        stage.write_outputs(result)
    return root, result


def test_gate_outcome_for_each_bad_row(gated):
    root, result = gated
    quarantine = pd.read_parquet(root / layout.QUARANTINE_TABLE)
    accepted = pd.concat([pd.read_parquet(root / layout.TRAIN_TABLE), pd.read_parquet(root / layout.EVAL_TABLE)])
    failed_checks = {row.pair_id: {reason.split(":")[0] for reason in row.reasons}
                     for row in quarantine.itertuples()}

    for pair_id, checks in EXPECTED.items():
        if checks:
            assert failed_checks.get(pair_id) == checks, pair_id
        else:
            assert pair_id in set(accepted["pair_id"]), pair_id
            assert pair_id not in failed_checks, failed_checks.get(pair_id)


def test_gate_skips_declined_and_failed(gated):
    root, result = gated
    written = set(pd.read_parquet(root / layout.QUARANTINE_TABLE)["pair_id"])
    written |= set(pd.read_parquet(root / layout.TRAIN_TABLE)["pair_id"])
    written |= set(pd.read_parquet(root / layout.EVAL_TABLE)["pair_id"])
    summary = json.loads((root / layout.VALIDATION_DIR / "summary.json").read_text())

    assert "declined" not in written
    assert "failed" not in written
    assert summary["counts"]["status"] == {"ok": len(EXPECTED), "declined": 1, "failed": 1}
    assert summary["counts"]["candidates"] == len(EXPECTED)


def test_gate_reasons_name_value_and_rule(gated):
    root, _ = gated
    quarantine = pd.read_parquet(root / layout.QUARANTINE_TABLE).set_index("pair_id")

    assert list(quarantine.loc["fast_flow", "reasons"]) == [
        "flow_window: flow_mean=500.0 is outside the mining window [1.0, 40.0] px"
    ]
    assert "file not found: data/pairs/frames/does_not_exist.jpg" in quarantine.loc["missing_frame", "reasons"][0]
    assert "decoded at 64x48, recorded as 80x48" in quarantine.loc["wrong_size", "reasons"][0]
    assert "cannot decode" in quarantine.loc["corrupt_frame", "reasons"][0]


def test_gate_summary_and_metrics(gated):
    root, _ = gated
    summary = json.loads((root / layout.VALIDATION_DIR / "summary.json").read_text())
    metrics = json.loads((root / layout.metrics_file("validate")).read_text())
    quarantined = sum(1 for checks in EXPECTED.values() if checks)

    assert summary["success"] is True
    assert summary["counts"]["quarantined"] == quarantined
    assert summary["counts"]["accepted"] == len(EXPECTED) - quarantined
    assert summary["quarantine_reasons"]["frames_decode"] == 3
    assert metrics["quarantined"] == quarantined
    assert metrics["train_pairs"] + metrics["eval_pairs"] == len(EXPECTED) - quarantined
    assert {item["check"] for item in summary["expectations"]} >= set(EXPECTED["fast_flow"]) | {"schema"}


def test_gate_splits_disjoint_by_video(gated):
    root, _ = gated
    train = pd.read_parquet(root / layout.TRAIN_TABLE)
    evaluation = pd.read_parquet(root / layout.EVAL_TABLE)

    assert set(train["split"]) == {"train"}
    assert set(evaluation["split"]) == {"eval"}
    assert len(evaluation) > 0
    assert not set(train["video_id"]) & set(evaluation["video_id"])


def test_gate_writes_benchmark_of_eval_split(gated):
    root, _ = gated
    benchmark = root / layout.BENCHMARK_DIR / "benchmark.jsonl"
    records = [json.loads(line) for line in benchmark.read_text().splitlines()]
    evaluation = pd.read_parquet(root / layout.EVAL_TABLE)

    assert sorted(record["pair_id"] for record in records) == sorted(evaluation["pair_id"])
    for record in records:
        assert set(record) >= {"source", "instruction", "target", "caption_before", "caption_after", "pair_id"}
        assert not os.path.isabs(record["source"])
        assert (benchmark.parent / record["source"]).is_file()
        assert (benchmark.parent / record["target"]).is_file()


def test_data_docs_name_the_suites(gated):
    root, _ = gated
    site = root / layout.VALIDATION_DIR / gate.DATA_DOCS_INDEX.parent
    pages = "".join(page.read_text() for page in site.rglob("*.html"))

    assert (site / "index.html").is_file()
    assert expectations.TRIPLETS_SUITE in (site / "index.html").read_text()
    assert expectations.DATASET_SUITE in pages
    assert "values must be unique" in pages
    summary = json.loads((root / layout.VALIDATION_DIR / "summary.json").read_text())
    assert len(summary["data_docs_pages"]) == 2
    for suite, page in zip((expectations.DATASET_SUITE, expectations.TRIPLETS_SUITE), summary["data_docs_pages"]):
        assert (root / page).is_file()
        assert suite in page
    assert "pair_id" in pages


def _run_gate(root: Path, rows: list[dict], **validate) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        stage.validate_triplets(pd.DataFrame(rows), make_params(root, **validate))


def test_duplicate_pair_id_stops_stage(tmp_path):
    rows = good_rows(tmp_path, videos=2, pairs_per_video=1)
    rows.append(dict(rows[0], video_id="video09"))

    with pytest.raises(StageError) as caught:
        _run_gate(tmp_path, rows)

    message = str(caught.value)
    assert "unique_pair_id (expect_column_values_to_be_unique on column pair_id)" in message
    assert "2 of 3 rows failed" in message
    assert "pair_id='video00_0'" in message
    assert "Data Docs: data/validation/gx/uncommitted/data_docs/local_site/index.html" in message
    summary = json.loads((tmp_path / layout.VALIDATION_DIR / "summary.json").read_text())
    assert summary["success"] is False
    assert "unique_pair_id" in summary["failure"]


def test_missing_column_stops_stage(tmp_path):
    rows = good_rows(tmp_path, videos=2, pairs_per_video=1)
    for row in rows:
        del row["flow_mean"]

    with pytest.raises(StageError) as caught:
        _run_gate(tmp_path, rows)

    message = str(caught.value)
    assert "- schema (expect_table_columns_to_match_set)" in message
    assert "missing columns: ['flow_mean']" in message


def test_wrong_column_type_stops_stage(tmp_path):
    rows = good_rows(tmp_path, videos=2, pairs_per_video=1)
    rows[1]["instruction"] = 12345

    with pytest.raises(StageError) as caught:
        _run_gate(tmp_path, rows)

    assert "schema (expect_column_values_to_be_in_type_list on column instruction)" in str(caught.value)
    assert "instruction=12345 must be of type str" in str(caught.value)


def test_no_accepted_rows_stops_stage(tmp_path):
    rows = [triplet_row(tmp_path, "only", "video00", offset=0)]

    with pytest.raises(StageError) as caught:
        _run_gate(tmp_path, rows)

    assert "accepted_rows (expect_table_row_count_to_be_between)" in str(caught.value)
    assert "observed: 0" in str(caught.value)


def test_critical_setting_promotes_warning(tmp_path):
    rows = good_rows(tmp_path, videos=2, pairs_per_video=1)
    rows.append(triplet_row(tmp_path, "fast", "video00", t_source=3, flow_mean=90.0))

    with pytest.raises(StageError, match=r"(?s)- flow_window .*flow_mean=90.0"):
        _run_gate(tmp_path, rows, critical=["schema", "flow_window"])


def test_dataset_suite_catches_shared_video(tmp_path):
    table = pd.DataFrame({
        "instruction_repeat_rank": [1, 1], "video_pair_rank": [1, 2], "video_split_count": [2, 2],
        "pair_id": ["a", "b"],
    })
    context = gate.open_context(tmp_path / "validation")
    settings = make_params(tmp_path).validate_

    outcomes = gate.run_suite(context, expectations.DATASET_SUITE, expectations.dataset_expectations(settings), table)
    failures = verdict.blocking_failures(outcomes, settings.critical)

    assert [failure.check for failure in failures] == ["disjoint_splits"]
    assert failures[0].failed_rows == [0, 1]


def test_missing_triplets_file_is_readable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(StageError, match=r"data/triplets.parquet: file not found. Run `instructmove instruct`"):
        stage.read_triplets(layout.TRIPLETS_TABLE)


def _logged_artifacts(root: Path) -> set[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("instructmove").experiment_id])
    return {item.path for item in client.list_artifacts(run.info.run_id, "validation")}


def test_stage_run_writes_dvc_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTRUCTMOVE_MLFLOW_RUN_ID", raising=False)
    write_triplets(tmp_path, good_rows(tmp_path, videos=2, pairs_per_video=1))

    stage.run(make_params(tmp_path))

    for path in (layout.TRAIN_TABLE, layout.EVAL_TABLE, layout.QUARANTINE_TABLE,
                 layout.BENCHMARK_DIR / "benchmark.jsonl", layout.VALIDATION_DIR / "summary.json",
                 layout.metrics_file("validate")):
        assert (tmp_path / path).is_file(), path
    assert len(pd.read_parquet(tmp_path / layout.EVAL_TABLE)) == 1
    assert {"validation/summary.json", "validation/data_docs", "validation/expectations.json"} <= (
        _logged_artifacts(tmp_path))


def test_cli_critical_failure_exits_readably(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTRUCTMOVE_MLFLOW_RUN_ID", raising=False)
    rows = good_rows(tmp_path, videos=2, pairs_per_video=1)
    write_triplets(tmp_path, rows + [rows[0]])
    (tmp_path / "params.yaml").write_text(f"tracking:\n  uri: sqlite:///{tmp_path / 'mlflow.db'}\n")

    code = cli.main(["validate"])

    assert code == 1
    assert "validation failed: 1 critical expectation(s) did not pass" in caplog.text
    assert "- unique_pair_id" in caplog.text
    assert {"validation/summary.json", "validation/data_docs"} <= _logged_artifacts(tmp_path)


@pytest.mark.parametrize("key, value, fragment", [
    ("critical", ["schema", "typo_check"], "unknown check(s) ['typo_check']"),
    ("refusal_patterns", ["(unclosed"], "invalid regular expression '(unclosed'"),
    ("min_words", 40, "min_words (40) must not exceed max_words (30)"),
    ("verbs", ["move the"], "verbs must be single words"),
])
def test_settings_reject_invalid_values(key, value, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_params({"validate": {key: value}})

    assert "validate" in str(caught.value)
    assert fragment in str(caught.value)


def test_split_stable_as_videos_grow():
    from instructmove.validate.split import eval_videos

    videos = [f"video{index:03d}" for index in range(40)]
    before = eval_videos(videos[:30], 0.2, seed=0)
    after = eval_videos(videos, 0.2, seed=0)
    assert before
    assert before <= after
    assert not (after - before) & set(videos[:30])


def test_split_guards_small_sets():
    from instructmove.validate.split import eval_videos

    assert eval_videos(["only"], 0.5, seed=0) == set()
    assert len(eval_videos(["a", "b"], 0.01, seed=0)) == 1
    assert len(eval_videos(["a", "b"], 0.99, seed=0)) == 1
