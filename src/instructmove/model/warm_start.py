"""Start training from the weights of a saved pipeline instead of a fresh initialisation.

`train.init_from` chooses:

    scratch                  fresh weights from the preset (sd15: the weights in model.pretrained_dir)
    champion                 the registered version behind the alias `champion`; scratch when there is none
    /path/to/pipeline        a folder written by InstructMovePipeline.save_pretrained

The optimiser, schedule and step always start fresh; only module weights are copied, and every
tensor must match the current model settings.
"""

import logging
import shutil
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from instructmove import layout, tracking
from instructmove.errors import StageError

log = logging.getLogger(__name__)

CHAMPION = "champion"
SCRATCH = "scratch"
WEIGHT_COMPONENTS = ("unet", "text_encoder", "vae", "controlnet")
CHAMPION_CACHE = layout.CACHE / "champion"


def champion_folder(registered_model: str, cache_dir: Path = CHAMPION_CACHE) -> tuple[Path | None, str]:
    """Download the champion's saved pipeline once per version; return (folder, version) or (None, reason)."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(registered_model, CHAMPION)
    except MlflowException:
        return None, f"model {registered_model!r} has no {CHAMPION!r} alias yet"

    folder = cache_dir / f"{registered_model}-v{version.version}"
    if (folder / "model_index.json").is_file():
        return folder, str(version.version)

    with tempfile.TemporaryDirectory(dir=_make(cache_dir)) as scratch_dir:
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{registered_model}/{version.version}", dst_path=scratch_dir))
        indexes = sorted(local.rglob("model_index.json"))
        if not indexes:
            raise StageError(f"champion {registered_model} version {version.version} contains no saved pipeline "
                             "(no model_index.json); set train.init_from: scratch")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(indexes[0].parent), folder)
    log.info("downloaded champion %s version %s to %s", registered_model, version.version, folder)
    return folder, str(version.version)


def _make(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resolve_init(init_from: str, registered_model: str) -> tuple[Path | None, str]:
    """Return the pipeline folder to start from (None for scratch) and a description for logs."""
    if init_from == SCRATCH:
        return None, "from scratch (train.init_from: scratch)"
    if init_from == CHAMPION:
        folder, detail = champion_folder(registered_model)
        if folder is None:
            return None, f"from scratch: {detail}"
        return folder, f"fine-tuning from champion {registered_model} version {detail}"
    folder = Path(init_from)
    if not (folder / "model_index.json").is_file():
        raise StageError(f"train.init_from = {init_from!r}: no saved pipeline there (model_index.json missing); "
                         "use scratch, champion, or a folder written by the train stage")
    return folder, f"fine-tuning from {folder}"


def load_weights(components, folder: Path) -> list[str]:
    """Copy the weights of the pipeline in `folder` into the built components; return the names copied."""
    copied = []
    for name in WEIGHT_COMPONENTS:
        target = getattr(components, name, None)
        if target is None:
            continue
        source_dir = folder / name
        if not source_dir.is_dir():
            log.info("%s has no %s; keeping its fresh weights", folder, name)
            continue
        source = type(target).from_pretrained(source_dir)
        try:
            target.load_state_dict(source.state_dict(), strict=True)
        except RuntimeError as error:
            raise StageError(f"train.init_from: the {name} in {folder} does not match the model settings "
                             f"({str(error).splitlines()[0]}); match the model section or set "
                             "train.init_from: scratch") from None
        copied.append(name)
    return copied


def apply_init(components, params) -> str:
    """Load the weights `train.init_from` names into freshly built components; return a note for the log."""
    tracking.configure(params.tracking)
    folder, note = resolve_init(params.train.init_from, params.train.registered_model_name)
    if folder is not None:
        copied = load_weights(components, folder)
        note = f"{note} ({', '.join(copied)})"
    return note
