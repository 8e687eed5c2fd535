"""Turn expectation outcomes into the stage's decisions.

A failed critical expectation, or any expectation that could not be evaluated, stops the
stage with a message that names it and shows sample rows. A failed warning expectation
sends its rows to quarantine, each with a reason that names the check, the value and the rule.
"""

import pandas as pd

from instructmove.validate.gate import ExpectationOutcome

MAX_VALUE_CHARS = 80


def _value_text(value: object, max_chars: int = MAX_VALUE_CHARS) -> str:
    if hasattr(value, "item"):
        value = value.item()
    text = repr(value)
    return text if len(text) <= max_chars else text[:max_chars - 3] + "..."


def describe_row(outcome: ExpectationOutcome, table: pd.DataFrame, row: int) -> str:
    """Return e.g. "instruction_verb: instruction_verb='sorry' is not in ... (instruction='Sorry, ...')"."""
    column = outcome.column
    value = table[column].iloc[row] if column in table.columns else None
    reason = f"{outcome.check}: {column}={_value_text(value)} {outcome.rule}"
    if outcome.context in table.columns:
        reason += f" ({outcome.context}={_value_text(table[outcome.context].iloc[row])})"
    return reason


def blocking_failures(outcomes: list[ExpectationOutcome], critical: list[str]) -> list[ExpectationOutcome]:
    return [item for item in outcomes if item.error or (not item.success and item.check in critical)]


def row_reasons(outcomes: list[ExpectationOutcome], table: pd.DataFrame, critical: list[str]) -> dict[int, list[str]]:
    """Map each row that failed a warning expectation to its reasons."""
    reasons: dict[int, list[str]] = {}
    for outcome in outcomes:
        if outcome.success or outcome.error or outcome.check in critical:
            continue
        for row in outcome.failed_rows:
            reasons.setdefault(row, []).append(describe_row(outcome, table, row))
    return reasons


def failure_message(failures: list[ExpectationOutcome], table: pd.DataFrame, sample_rows: int,
                    data_docs: str) -> str:
    lines = [f"validation failed: {len(failures)} critical expectation(s) did not pass"]
    for outcome in failures:
        target = f" on column {outcome.column}" if outcome.column else ""
        lines.append(f"- {outcome.check} ({outcome.expectation}{target}): {outcome.rule}")
        if outcome.error:
            lines.append(f"    could not be evaluated: {outcome.error}")
        elif outcome.failed_rows:
            lines.append(f"    {len(outcome.failed_rows)} of {len(table)} rows failed; sample:")
            lines += [f"    {_row_label(table, row)}: {describe_row(outcome, table, row)}"
                      for row in outcome.failed_rows[:sample_rows]]
        else:
            lines.append(f"    {_observed_text(outcome)}")
    lines.append(f"Data Docs: {data_docs}")
    lines.append("Fix the triplets upstream (pairs or instruct stage) and run again, or move the check "
                 "out of validate.critical in params.yaml to quarantine such rows instead.")
    return "\n".join(lines)


def _observed_text(outcome: ExpectationOutcome) -> str:
    mismatched = (outcome.details or {}).get("mismatched")
    if isinstance(mismatched, dict) and mismatched.get("missing"):
        return f"missing columns: {mismatched['missing']}"
    return f"observed: {_value_text(outcome.observed, 400)}"


def _row_label(table: pd.DataFrame, row: int) -> str:
    if "pair_id" in table.columns:
        return f"row {row} (pair_id={table['pair_id'].iloc[row]!r})"
    return f"row {row}"


def check_summary(outcomes: list[ExpectationOutcome], suite: str, critical: list[str]) -> list[dict]:
    """Build one JSON-ready record per expectation, for summary.json."""
    return [
        {
            "suite": suite,
            "check": outcome.check,
            "expectation": outcome.expectation,
            "column": outcome.column,
            "severity": "critical" if outcome.check in critical else "warning",
            "success": outcome.success,
            "failed_rows": len(outcome.failed_rows),
            "rule": outcome.rule,
            "error": outcome.error,
        }
        for outcome in outcomes
    ]
