"""State of the retrain flow between runs, kept as JSON in `retrain.state_dir`.

- `trained_pairs`: ids of the accepted pairs the last successful training saw; pairs
  accepted since then are the "new" pairs that decide whether to retrain.
- `pending`: corpus files added by a run that has not finished yet. A later run keeps them
  (an interrupted run resumes) and a failed run removes them (the corpus stays as it was).
- `hashes`: sha256 of inbox and corpus files, reused while size and mtime are unchanged.

Every write goes to a temporary file first and is renamed into place.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from instructmove import layout

STATE_FILE = "state.json"
LAST_RUN_FILE = "last_run.json"
LOCK_FILE = "lock"


@dataclass
class RetrainState:
    trained_pairs: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    hashes: dict = field(default_factory=dict)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(temporary, path)


def load_state(state_dir: Path) -> RetrainState:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return RetrainState()
    data = json.loads(path.read_text())
    return RetrainState(
        trained_pairs=list(data.get("trained_pairs", [])),
        pending=list(data.get("pending", [])),
        hashes=dict(data.get("hashes", {})),
    )


def save_state(state_dir: Path, state: RetrainState) -> None:
    write_json(state_dir / STATE_FILE, {
        "trained_pairs": sorted(state.trained_pairs),
        "pending": state.pending,
        "hashes": state.hashes,
    })


def accepted_pair_ids(root: Path) -> set[str]:
    """Ids of the pairs the validate stage accepted (train and eval splits); empty before its first run."""
    ids: set[str] = set()
    for table in (layout.TRAIN_TABLE, layout.EVAL_TABLE):
        path = root / table
        if path.is_file():
            ids.update(pd.read_parquet(path, columns=["pair_id"]).pair_id.astype(str))
    return ids


def new_pair_ids(root: Path, state: RetrainState) -> set[str]:
    """Accepted pairs that the last successful training did not see."""
    return accepted_pair_ids(root) - set(state.trained_pairs)


def commit_pending(state_dir: Path, trained_pairs: list[str] | None = None) -> None:
    """Keep the journaled videos in the corpus for good and, after training, record the pairs it saw."""
    state = load_state(state_dir)
    state.pending = []
    if trained_pairs is not None:
        state.trained_pairs = trained_pairs
    save_state(state_dir, state)


def roll_back_pending(state_dir: Path) -> list[str]:
    """Delete the journaled videos from the corpus, so a failed run leaves it as it was; return them."""
    state = load_state(state_dir)
    for path in state.pending:
        Path(path).unlink(missing_ok=True)
    removed, state.pending = state.pending, []
    save_state(state_dir, state)
    return removed
