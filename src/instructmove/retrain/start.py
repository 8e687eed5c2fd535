"""How a retrain run trains (fresh or from the champion) and what the evaluate stage decided."""

import json
from pathlib import Path

from instructmove import layout


def describe_init(params) -> str:
    """Say where training starts from, as the train stage will resolve `train.init_from`."""
    init_from = getattr(params.train, "init_from", "scratch")
    if init_from in ("scratch", "champion"):
        return f"train.init_from: {init_from}"
    return f"train.init_from: {init_from} (a saved pipeline folder)"


def promotion_result(root: Path) -> tuple[bool | None, str]:
    """Read the promotion decision from metrics/evaluate.json: (promoted, sentence for the log)."""
    path = root / layout.metrics_file("evaluate")
    if not path.is_file():
        return None, f"{path} not found, so the promotion decision is unknown"
    decision = json.loads(path.read_text()).get("promotion")
    if not decision:
        return None, "promotion is disabled (evaluate.promotion.enabled: false)"
    role = "promoted to champion" if decision.get("promoted") else "kept as challenger"
    return bool(decision.get("promoted")), (f"model {decision.get('model')} version {decision.get('version')} "
                                            f"{role}: {decision.get('reason')}")
