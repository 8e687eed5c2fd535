"""A failed critical check of the validate stage stops the Prefect flow with the gate's message."""

import json

import pytest
from mlflow.tracking import MlflowClient

from helpers_project import make_project
from helpers_validate import good_rows, write_triplets
from instructmove import layout, tracking

pytestmark = pytest.mark.slow


def test_critical_failure_stops_flow(tmp_path, capfd):
    from flows.pipeline import pipeline

    root = make_project(tmp_path / "project", [], ["validate.min_accepted_pairs=100000", "flow.retries=0"])
    write_triplets(root, good_rows(root, videos=2, pairs_per_video=1))

    with pytest.raises(Exception, match="validate") as caught:
        pipeline(root=str(root), stages=["validate"])

    output = capfd.readouterr().err
    summary = json.loads((root / layout.VALIDATION_DIR / "summary.json").read_text())
    client = MlflowClient(tracking.resolve_uri("sqlite:///mlflow.db", root))
    [run] = client.search_runs([client.get_experiment_by_name("instructmove").experiment_id],
                               filter_string="tags.`instructmove.stage` = 'validate'")
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "validation")}
    assert "validation failed: 1 critical expectation(s) did not pass" in output
    assert "- accepted_rows (expect_table_row_count_to_be_between)" in output
    assert "fewer than validate.min_accepted_pairs = 100000" in output
    assert summary["success"] is False
    assert "accepted_rows" in summary["failure"]
    assert run.info.status == "FAILED"
    assert "accepted_rows" in str(caught.value)
    assert "accepted_rows" in run.data.tags["instructmove.error"]
    assert "validation/summary.json" in artifacts
