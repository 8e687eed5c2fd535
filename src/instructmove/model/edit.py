"""`instructmove edit`: apply one instruction to one image with a saved pipeline and write a PNG.

    instructmove edit --image frame.jpg --instruction "Turn the head to the left" --out edited.png \
        [--mask mask.png] [--control edges.png] [--pipeline models/pipeline] [--steps 50] [--seed 0]
"""

import logging
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from instructmove.errors import StageError

log = logging.getLogger(__name__)


def open_image(path: str | None, option: str) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise StageError(f"{option} {path}: file not found") from None
    except UnidentifiedImageError:
        raise StageError(f"{option} {path}: not an image file PIL can read (PNG, JPEG, ...)") from None


def load_pipeline(folder: str):
    from instructmove.model.pipeline import InstructMovePipeline

    if not (Path(folder) / "model_index.json").is_file():
        raise StageError(
            f"--pipeline {folder}: no saved pipeline (model_index.json) there; run `instructmove train` "
            "first or point --pipeline at a folder written by InstructMovePipeline.save_pretrained"
        )
    pipe = InstructMovePipeline.from_pretrained(folder)
    if torch.cuda.is_available():
        pipe = pipe.to("cuda")
    return pipe


def run(args) -> Path:
    image = open_image(args.image, "--image")
    mask = open_image(args.mask, "--mask")
    control = open_image(args.control, "--control")
    pipe = load_pipeline(args.pipeline)
    if control is not None and pipe.controlnet is None:
        raise StageError(f"--control {args.control}: the pipeline in {args.pipeline} has no ControlNet; "
                         "train one with train.controlnet: true, or drop --control")

    result = pipe(
        image=image,
        prompt=args.instruction,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        image_guidance_scale=args.image_guidance,
        mask_image=mask,
        control_image=control,
        generator=torch.Generator().manual_seed(args.seed),
    )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.images[0].save(out, format="PNG")
    log.info("wrote %s (%dx%d, %d DDIM steps)", out, *result.images[0].size, args.steps)
    return out
