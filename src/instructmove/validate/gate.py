"""Run expectation suites through a Great Expectations file context and publish Data Docs.

The context lives in `<root>/gx`; each run starts from an empty one, so the Data Docs show
this run's validations only. The HTML site is `<root>/gx/uncommitted/data_docs/local_site/`.
"""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from instructmove.validate.gx_import import ProgressBarsConfig, gx

log = logging.getLogger(__name__)

DATA_SOURCE = "instructmove"
DATA_DOCS_INDEX = Path("gx/uncommitted/data_docs/local_site/index.html")


@dataclass
class ExpectationOutcome:
    """The result of one expectation, reduced to what the stage acts on."""

    check: str
    rule: str
    expectation: str
    column: str | None
    context: str | None
    success: bool
    failed_rows: list[int] = field(default_factory=list)
    observed: object = None
    details: dict | None = None
    error: str | None = None


def open_context(root: Path):
    """Create an empty file context under `root`, replacing the one of an earlier run."""
    shutil.rmtree(root / "gx", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_or_update_pandas(DATA_SOURCE)
    return context


def _batch_definition(context, asset_name: str):
    source = context.data_sources.get(DATA_SOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("whole")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole")


def run_suite(context, suite_name: str, expectations: list, table: pd.DataFrame) -> list[ExpectationOutcome]:
    """Validate `table` against a suite of `expectations` and update the Data Docs.

    Row numbers in the outcomes are positions in `table`.
    """
    table = table.reset_index(drop=True)
    suite = gx.ExpectationSuite(name=suite_name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    suite = context.suites.add_or_update(suite)

    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=_batch_definition(context, suite_name), suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite_name,
        validation_definitions=[definition],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "COMPLETE"},
    ))
    result = checkpoint.run(batch_parameters={"dataframe": table})

    outcomes = []
    for validation in result.run_results.values():
        outcomes += [_outcome(item) for item in validation.results]
    failed = sum(not outcome.success for outcome in outcomes)
    log.info("suite %s: %d expectations, %d failed", suite_name, len(outcomes), failed)
    return outcomes


def _outcome(item) -> ExpectationOutcome:
    config = item.expectation_config
    error = None
    if item.exception_info and item.exception_info.get("raised_exception"):
        error = item.exception_info.get("exception_message") or "the expectation raised an exception"
    return ExpectationOutcome(
        check=config.meta["check"],
        rule=config.meta["rule"],
        expectation=config.type,
        column=config.kwargs.get("column"),
        context=config.meta.get("context"),
        success=bool(item.success),
        failed_rows=[int(index) for index in item.result.get("unexpected_index_list") or []],
        observed=item.result.get("observed_value"),
        details=item.result.get("details"),
        error=error,
    )
