"""Add the new videos of the inbox or manifest to the corpus, journaling each one before it is copied."""

import logging
from pathlib import Path

from instructmove.retrain import inbox
from instructmove.retrain.state import load_state, save_state

log = logging.getLogger(__name__)


def resolve(root: Path, path: str) -> Path:
    """Return `path` as is when absolute, else relative to the repository root."""
    return Path(path) if Path(path).is_absolute() else root / path


def add_new_videos(root: Path, params, inbox_dir: str | None, manifest: str | None) -> list[tuple[str, str]]:
    """Copy the candidates whose content is not in the corpus yet; return (source, corpus path) pairs.

    Each corpus path enters the journal (`pending`) before its copy starts, so a failed run can
    remove it and an interrupted one leaves a record of it. Call only while holding the run lock.
    """
    state_dir = resolve(root, params.retrain.state_dir)
    corpus_dir = resolve(root, params.ingest.videos_dir)
    extensions = params.ingest.extensions
    state = load_state(state_dir)
    hashes = inbox.HashCache(state.hashes)

    inbox.remove_partials(corpus_dir)
    candidates = inbox.list_videos(resolve(root, inbox_dir), extensions) if inbox_dir else []
    if manifest:
        candidates += inbox.read_manifest(resolve(root, manifest), extensions)
    corpus = inbox.list_videos(corpus_dir, extensions)
    additions = inbox.plan_additions(candidates, corpus, corpus_dir, hashes)

    for addition in additions:
        state.pending.append(str(addition.target))
        save_state(state_dir, state)
        inbox.copy_atomically(addition.source, addition.target)
        log.info("added %s to the corpus as %s", addition.source, addition.target)

    kept = {str(path.resolve()) for path in [*candidates, *corpus]} | {str(a.target) for a in additions}
    hashes.prune(kept)
    state.hashes = hashes.entries
    save_state(state_dir, state)
    return [(str(addition.source), str(addition.target)) for addition in additions]
