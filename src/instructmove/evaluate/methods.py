"""The editing methods compared on the benchmark: the trained model, InstructPix2Pix, and the identity edit.

Each method takes the square views of the sources (and masks), resizes them to its own input
size, and returns one edited image per source. The identity edit returns the source unchanged,
so its scores are the floor a method must clear to have done anything.
"""

import logging
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from instructmove.errors import StageError
from instructmove.evaluate.prepare import resize_to

log = logging.getLogger(__name__)

INSTRUCTMOVE = "instructmove"
INSTRUCTPIX2PIX = "instructpix2pix"
IDENTITY = "identity"


def _batches(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


class IdentityEditor:
    """Return each source unchanged."""

    name = IDENTITY

    def edit(self, sources: list[Image.Image], instructions: list[str], masks: list[Image.Image | None]) -> list[Image.Image]:
        return [source.copy() for source in sources]


class InstructMoveEditor:
    """Run a saved InstructMovePipeline with the evaluate section's guidance and step settings."""

    name = INSTRUCTMOVE

    def __init__(self, pipeline_dir: str | Path, settings, resolution: int):
        path = Path(pipeline_dir)
        if not path.is_dir():
            raise StageError(f"evaluate.pipeline_dir={str(pipeline_dir)!r}: folder not found. Run the train stage first.")
        from instructmove.model.pipeline import InstructMovePipeline

        self.pipe = InstructMovePipeline.from_pretrained(path)
        self.pipe.set_progress_bar_config(disable=True)
        self.settings = settings
        self.size = (resolution, resolution)

    def _call(self, images, prompts, mask, seed: int) -> list[Image.Image]:
        output = self.pipe(
            image=images,
            prompt=prompts,
            num_inference_steps=self.settings.num_inference_steps,
            guidance_scale=self.settings.guidance_scale,
            image_guidance_scale=self.settings.image_guidance_scale,
            mask_image=mask,
            generator=torch.Generator().manual_seed(seed),
        )
        return list(output.images)

    def edit(self, sources: list[Image.Image], instructions: list[str], masks: list[Image.Image | None]) -> list[Image.Image]:
        edits: list[Image.Image | None] = [None] * len(sources)
        unmasked = [i for i, mask in enumerate(masks) if mask is None]
        masked = [i for i, mask in enumerate(masks) if mask is not None]

        # One pipeline call takes one mask, so masked examples run one at a time.
        batches = [[unmasked[j] for j in chunk] for chunk in _batches(len(unmasked), self.settings.batch_size)]
        batches += [[i] for i in masked]
        for number, batch in enumerate(tqdm(batches, desc="instructmove edits", unit="batch")):
            mask = masks[batch[0]]
            if mask is not None:
                mask = resize_to(mask, self.size)
            images = self._call(
                [resize_to(sources[i], self.size) for i in batch],
                [instructions[i] for i in batch],
                mask,
                self.settings.seed + number,
            )
            for i, image in zip(batch, images):
                edits[i] = image.convert("RGB")
        return edits


class InstructPix2PixEditor:
    """Run diffusers' StableDiffusionInstructPix2PixPipeline from local weights; masks are not supported by it and are ignored."""

    name = INSTRUCTPIX2PIX

    def __init__(self, folder: str | Path, settings):
        path = Path(folder)
        if not (path / "model_index.json").is_file():
            raise StageError(
                f"evaluate.baselines.ip2p_dir={str(folder)!r}: no model_index.json there. "
                "Point it at a local StableDiffusionInstructPix2PixPipeline folder or set it to null."
            )
        from diffusers import StableDiffusionInstructPix2PixPipeline

        self.pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            path, local_files_only=True, safety_checker=None, requires_safety_checker=False
        )
        self.pipe.set_progress_bar_config(disable=True)
        self.settings = settings

    def edit(self, sources: list[Image.Image], instructions: list[str], masks: list[Image.Image | None]) -> list[Image.Image]:
        side = self.settings.baselines.ip2p_resolution
        edits: list[Image.Image] = []
        for number, batch in enumerate(tqdm(_batches(len(sources), self.settings.batch_size), desc="instructpix2pix edits", unit="batch")):
            images = [resize_to(sources[i], (side, side)) for i in batch]
            output = self.pipe(
                prompt=[instructions[i] for i in batch],
                image=images,
                num_inference_steps=self.settings.num_inference_steps,
                guidance_scale=self.settings.baselines.ip2p_guidance_scale,
                image_guidance_scale=self.settings.baselines.ip2p_image_guidance_scale,
                generator=torch.Generator().manual_seed(self.settings.seed + number),
            )
            edits.extend(image.convert("RGB") for image in output.images)
        return edits


def build_editors(settings, resolution: int) -> list:
    """Return the methods to compare: the trained model, the baseline when configured, the identity edit."""
    editors = [InstructMoveEditor(settings.pipeline_dir, settings, resolution)]
    if settings.baselines.ip2p_dir:
        editors.append(InstructPix2PixEditor(settings.baselines.ip2p_dir, settings))
    else:
        log.info("InstructPix2Pix baseline skipped: evaluate.baselines.ip2p_dir is null")
    editors.append(IdentityEditor())
    return editors
