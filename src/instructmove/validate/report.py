"""The machine-readable validation summary and the DVC metrics of the validate stage."""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from instructmove import layout


@dataclass
class ValidationReport:
    """Findings of one run of the gate; `write` stores them as summary.json."""

    suites: list[str]
    data_docs: str
    status_counts: dict[str, int]
    data_docs_pages: list[str] = field(default_factory=list)
    candidates: int = 0
    expectations: list[dict] = field(default_factory=list)
    quarantine_reasons: Counter = field(default_factory=Counter)
    quarantined: int = 0
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    success: bool = False
    failure: str | None = None

    def count_reasons(self, reasons: dict[int, list[str]]) -> None:
        """Count quarantine reasons by check name (the text before the first colon)."""
        for row_reasons in reasons.values():
            self.quarantine_reasons.update({reason.split(":", 1)[0] for reason in row_reasons})

    def as_dict(self) -> dict:
        accepted = sum(split["pairs"] for split in self.splits.values())
        return {
            "success": self.success,
            "failure": self.failure,
            "suites": self.suites,
            "data_docs": self.data_docs,
            "data_docs_pages": self.data_docs_pages,
            "counts": {
                "rows": sum(self.status_counts.values()),
                "status": self.status_counts,
                "candidates": self.candidates,
                "accepted": accepted,
                "quarantined": self.quarantined,
            },
            "splits": self.splits,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "expectations": self.expectations,
        }

    def metrics(self) -> dict:
        """Return the numbers for metrics/validate.json; the flow logs each numeric leaf to MLflow."""
        summary = self.as_dict()
        counts = summary["counts"]
        candidates = max(counts["candidates"], 1)
        return {
            "rows": counts["rows"],
            "declined": self.status_counts.get("declined", 0),
            "failed": self.status_counts.get("failed", 0),
            "candidates": counts["candidates"],
            "accepted": counts["accepted"],
            "quarantined": counts["quarantined"],
            "acceptance_rate": round(counts["accepted"] / candidates, 4),
            "train_pairs": self.splits.get("train", {}).get("pairs", 0),
            "train_videos": self.splits.get("train", {}).get("videos", 0),
            "eval_pairs": self.splits.get("eval", {}).get("pairs", 0),
            "eval_videos": self.splits.get("eval", {}).get("videos", 0),
            "quarantine_reasons": summary["quarantine_reasons"],
        }

    def write(self, folder: Path) -> Path:
        """Write summary.json into `folder`, listing the Data Docs validation pages found there."""
        folder.mkdir(parents=True, exist_ok=True)
        site = Path(self.data_docs).parent
        self.data_docs_pages = sorted(str(page) for page in (site / "validations").rglob("*.html"))
        path = folder / "summary.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n")
        return path


def split_counts(table: pd.DataFrame) -> dict[str, int]:
    return {"pairs": int(len(table)), "videos": int(table["video_id"].nunique()) if len(table) else 0}


def write_metrics(report: ValidationReport) -> Path:
    path = layout.metrics_file("validate")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.metrics(), indent=2) + "\n")
    return path
