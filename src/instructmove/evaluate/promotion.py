"""Promote an evaluated model in the MLflow registry when it beats the current champion.

The evaluated version gets its metrics as version tags (`evaluate.<metric>`). It takes the alias
`champion` when no champion exists, or when it beats the champion's recorded value of the
configured metric by at least the configured margin. Otherwise it is tagged `challenger`.
"""

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
ROLE_TAG = "role"
REGISTRATION_FILE = "registration.json"


@dataclass(frozen=True)
class ModelRef:
    """One model version in the registry."""

    name: str
    version: str
    run_id: str | None


@dataclass(frozen=True)
class Registration:
    """The train stage's record in `registration.json`: a registered version, a logged model URI, or both."""

    name: str | None
    version: str | None
    run_id: str | None
    model_uri: str | None


def read_registration(pipeline_dir: Path) -> Registration | None:
    """Return the train stage's record from `<pipeline_dir>/registration.json`, or None when absent."""
    path = Path(pipeline_dir) / REGISTRATION_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    version = data.get("version")
    return Registration(
        name=data.get("name") or data.get("registered_model"),
        version=None if version is None else str(version),
        run_id=data.get("run_id"),
        model_uri=data.get("model_uri"),
    )


def register_pipeline(client: MlflowClient, name: str, pipeline_dir: Path, run_id: str) -> ModelRef:
    """Log the pipeline folder to the current run and register it as a new version of `name`."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Instruction-based image editing pipelines trained on video pairs.")
    mlflow.log_artifacts(str(pipeline_dir), artifact_path="pipeline")
    source = f"{mlflow.get_artifact_uri()}/pipeline"
    version = client.create_model_version(name, source=source, run_id=run_id)
    return ModelRef(name=name, version=str(version.version), run_id=run_id)


def _registered(client: MlflowClient, record: Registration) -> ModelRef | None:
    if not record.name or record.version is None:
        return None
    try:
        client.get_model_version(record.name, record.version)
    except MlflowException:
        log.warning("model %s version %s named in %s is not in this registry", record.name, record.version, REGISTRATION_FILE)
        return None
    return ModelRef(name=record.name, version=record.version, run_id=record.run_id)


def resolve_model(client: MlflowClient, pipeline_dir: Path, fallback_name: str, run_id: str) -> ModelRef:
    """Find the registry version of the evaluated pipeline, registering it when the train stage did not.

    The order: the version named in registration.json. Else the model the train run logged (its
    model_uri), registered under `fallback_name`. Else the pipeline folder, logged to this run and registered.
    """
    record = read_registration(pipeline_dir)
    if record is not None:
        ref = _registered(client, record)
        if ref is not None:
            return ref
        if record.model_uri:
            try:
                version = mlflow.register_model(record.model_uri, fallback_name)
                return ModelRef(name=fallback_name, version=str(version.version), run_id=record.run_id)
            except MlflowException as error:
                log.warning("registering %s failed (%s); registering the pipeline folder instead", record.model_uri, error)
    return register_pipeline(client, fallback_name, Path(pipeline_dir), run_id)


def download_pipeline(version, destination: Path) -> Path | None:
    """Download a model version's files and return the folder holding its `model_index.json`, or None."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(destination)))
    indexes = sorted(local.rglob("model_index.json"))
    return indexes[0].parent if indexes else None


def current_champion(client: MlflowClient, name: str):
    """Return the model version behind the `champion` alias, or None when there is none."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def beats(candidate: float, champion: float, higher_is_better: bool, margin: float) -> tuple[bool, float]:
    """Return whether the candidate wins and its improvement over the champion (positive is better).

    The candidate wins when the improvement is at least `margin`, so a tie wins only when margin <= 0.
    An improvement equal to the margin up to float rounding (relative 1e-9) counts as reaching it.
    """
    improvement = candidate - champion if higher_is_better else champion - candidate
    reached = improvement >= margin or math.isclose(improvement, margin, rel_tol=1e-9, abs_tol=1e-12)
    return reached, improvement


def _recorded(version, metric: str) -> float | None:
    value = (version.tags or {}).get(f"evaluate.{metric}")
    return float(value) if value not in (None, "", "None") else None


def decide(ref: ModelRef, candidate: float | None, champion, settings) -> dict:
    """Return the promotion decision for `ref` against the current champion version (or None)."""
    decision = {
        "model": ref.name, "version": ref.version, "metric": settings.metric,
        "higher_is_better": settings.higher_is_better, "margin": settings.margin,
        "candidate_value": candidate, "champion_version": None, "champion_value": None, "improvement": None,
    }
    if champion is not None:
        decision["champion_version"] = str(champion.version)
        decision["champion_value"] = _recorded(champion, settings.metric)

    if candidate is None:
        return {**decision, "promoted": False, "reason": f"{settings.metric} was not computed for this model"}
    if champion is None:
        return {**decision, "promoted": True, "reason": "no champion yet"}
    if str(champion.version) == ref.version:
        return {**decision, "promoted": True, "reason": "this version is already the champion"}
    if decision["champion_value"] is None:
        return {**decision, "promoted": True, "reason": f"the champion has no recorded {settings.metric}"}

    wins, improvement = beats(candidate, decision["champion_value"], settings.higher_is_better, settings.margin)
    relation = "at least" if wins else "less than"
    reason = f"improvement {improvement:+.6g} over the champion is {relation} the margin {settings.margin:g}"
    return {**decision, "promoted": wins, "improvement": improvement, "reason": reason}


def _tag_metrics(client: MlflowClient, ref: ModelRef, metrics: dict, protocol_digest: str) -> None:
    for metric, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            client.set_model_version_tag(ref.name, ref.version, f"evaluate.{metric}", str(value))
    client.set_model_version_tag(ref.name, ref.version, "evaluate.protocol_sha256", protocol_digest)


def _rescore_champion(client, champion, protocol_digest: str, rescore) -> tuple[object, bool]:
    """Re-evaluate the champion under the current protocol when its recorded one differs."""
    champion_ref = ModelRef(name=champion.name, version=str(champion.version), run_id=champion.run_id)
    log.info("re-evaluating champion %s version %s under the current protocol", champion.name, champion.version)
    metrics = rescore(champion)
    if metrics is None:
        return champion, False
    _tag_metrics(client, champion_ref, metrics, protocol_digest)
    return client.get_model_version(champion.name, str(champion.version)), True


def promote(
    client: MlflowClient,
    ref: ModelRef,
    metrics: dict,
    settings,
    protocol_digest: str,
    rescore: Callable[[object], dict | None] | None = None,
) -> dict:
    """Record the version's metrics, decide, then move `champion` or tag the version `challenger`.

    `rescore(champion_version)` returns the champion's metrics under the current protocol, or
    None when it cannot. It is called when the champion's recorded protocol differs and
    `settings.reevaluate_champion` is set.
    """
    _tag_metrics(client, ref, metrics, protocol_digest)
    champion = current_champion(client, ref.name)
    champion_digest = (champion.tags or {}).get("evaluate.protocol_sha256") if champion is not None else None
    stale = champion is not None and str(champion.version) != ref.version and champion_digest not in (None, protocol_digest)

    reevaluated = False
    if stale and settings.reevaluate_champion and rescore is not None:
        champion, reevaluated = _rescore_champion(client, champion, protocol_digest, rescore)
    decision = decide(ref, metrics.get(settings.metric), champion, settings)
    decision["champion_reevaluated"] = reevaluated
    decision["same_protocol"] = not stale or reevaluated

    # NOTE: without re-evaluation the champion's value comes from another protocol (benchmark rows
    # or inference settings), so the comparison mixes two protocols and the decision records it.
    if not decision["same_protocol"]:
        log.warning("champion %s was evaluated under another protocol (sha256 %s, now %s); comparing anyway",
                    decision["champion_version"], champion_digest, protocol_digest)

    if decision["promoted"]:
        if champion is not None and str(champion.version) != ref.version:
            client.set_model_version_tag(ref.name, str(champion.version), ROLE_TAG, "former champion")
        client.set_registered_model_alias(ref.name, CHAMPION, ref.version)
        client.set_model_version_tag(ref.name, ref.version, ROLE_TAG, CHAMPION)
    else:
        client.set_model_version_tag(ref.name, ref.version, ROLE_TAG, CHALLENGER)

    log.info("model %s version %s: %s (%s)", ref.name, ref.version,
             CHAMPION if decision["promoted"] else CHALLENGER, decision["reason"])
    return decision
