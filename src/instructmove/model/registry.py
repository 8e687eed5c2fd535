"""Log the saved pipeline to MLflow as a pyfunc model and register it.

The evaluate stage reads `models/pipeline/registration.json` to find the registered version.
"""

import base64
import io
import json
import logging
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from PIL import Image

log = logging.getLogger(__name__)

REGISTRATION_FILE = "registration.json"
REQUIREMENTS = ("torch", "diffusers", "transformers", "pillow", "pandas")


class InstructMovePyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: a DataFrame with `image` (path) and `instruction` in, base64 PNG edits out."""

    def load_context(self, context) -> None:
        from instructmove.model.pipeline import InstructMovePipeline

        self.pipe = InstructMovePipeline.from_pretrained(context.artifacts["pipeline"])
        self.pipe.set_progress_bar_config(disable=True)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        import torch

        params = params or {}
        images = [Image.open(path).convert("RGB") for path in model_input["image"]]
        edits = self.pipe(
            image=images,
            prompt=list(model_input["instruction"]),
            num_inference_steps=int(params.get("num_inference_steps", 50)),
            guidance_scale=float(params.get("guidance_scale", 7.5)),
            image_guidance_scale=float(params.get("image_guidance_scale", 1.5)),
            generator=torch.Generator().manual_seed(int(params.get("seed", 0))),
        ).images
        return pd.DataFrame({"edited_png_base64": [_png_base64(edit) for edit in edits]})


def _png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def log_and_register(pipeline_dir: Path, name: str, register: bool) -> dict:
    """Log the pipeline folder as the run's `pipeline` model; register it when asked; write registration.json."""
    requirements = [f"{package}=={metadata.version(package)}" for package in REQUIREMENTS]
    info = mlflow.pyfunc.log_model(
        name="pipeline",
        python_model=InstructMovePyfunc(),
        artifacts={"pipeline": str(pipeline_dir)},
        pip_requirements=requirements,
        registered_model_name=name if register else None,
    )
    run_id = mlflow.active_run().info.run_id
    record = {
        "name": name if register else None,
        "version": str(info.registered_model_version) if register else None,
        "run_id": run_id,
        "model_uri": info.model_uri,
    }
    (pipeline_dir / REGISTRATION_FILE).write_text(json.dumps(record, indent=2) + "\n")
    log.info("logged the pipeline as %s%s", info.model_uri,
             f", registered as {name} version {record['version']}" if register else "")
    return record
