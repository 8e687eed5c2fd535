"""Load a CLIP model from a local folder and compute CLIP-I, CLIP-D, CLIP-T and CLIP-Inst.

Only a folder with trained weights is accepted: a folder whose checkpoint lacks weights, or whose
logit scale still equals its initial value, is rejected, so random-init numbers are never reported
as CLIP metrics.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from instructmove.evaluate import clip_formulas

log = logging.getLogger(__name__)


class ClipUnavailable(Exception):
    """CLIP metrics cannot be computed; the message is the reason written to the metrics file."""


@dataclass
class ClipScorer:
    """A trained CLIP model and its processor, loaded from `folder`."""

    folder: Path
    model: "torch.nn.Module"
    processor: object
    batch_size: int = 16

    @torch.no_grad()
    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Return one projected image embedding per image, shape (n, projection_dim)."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            inputs = self.processor(images=images[start:start + self.batch_size], return_tensors="pt")
            output = self.model.get_image_features(pixel_values=inputs["pixel_values"])
            chunks.append(_features(output))
        return np.concatenate(chunks)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Return one projected text embedding per text; texts longer than CLIP's context are truncated."""
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            inputs = self.processor(
                text=texts[start:start + self.batch_size], return_tensors="pt", padding=True, truncation=True
            )
            output = self.model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            chunks.append(_features(output))
        return np.concatenate(chunks)


def _features(output) -> np.ndarray:
    # transformers 5 returns a model output whose pooler_output holds the projected features;
    # older releases returned the tensor itself.
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return tensor.detach().float().cpu().numpy()


def load_clip(folder: str | Path | None) -> ClipScorer:
    """Load CLIPModel and CLIPProcessor from a local folder, or raise ClipUnavailable with the reason."""
    if folder is None:
        raise ClipUnavailable("evaluate.clip_model is null; set it to a local CLIP folder (transformers layout)")
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise ClipUnavailable(f"evaluate.clip_model={folder!r}: no config.json found there; point it at a local CLIP folder")

    from transformers import CLIPModel, CLIPProcessor

    try:
        model, info = CLIPModel.from_pretrained(path, local_files_only=True, output_loading_info=True)
        processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ClipUnavailable(f"evaluate.clip_model={folder!r}: failed to load CLIP ({error})") from None

    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise ClipUnavailable(
            f"evaluate.clip_model={folder!r}: {len(missing)} weights missing from the checkpoint "
            f"(e.g. {missing[0]}), so the model would be partly random"
        )
    _check_trained(model, folder)
    model.eval()
    return ClipScorer(folder=path, model=model, processor=processor)


def _check_trained(model, folder) -> None:
    initial = float(model.config.logit_scale_init_value)
    current = float(model.logit_scale.detach())
    if math.isclose(current, initial, rel_tol=0, abs_tol=1e-6):
        raise ClipUnavailable(
            f"evaluate.clip_model={folder!r}: logit_scale is still its initial value {initial:.4f}, "
            "so the weights look untrained; use a trained CLIP checkpoint"
        )


def score_examples(
    scorer: ClipScorer,
    sources: list[Image.Image],
    edits: list[Image.Image],
    instructions: list[str],
    captions_before: list[str | None],
    captions_after: list[str | None],
) -> list[dict[str, float | None]]:
    """Return CLIP-I, CLIP-D, CLIP-T and CLIP-Inst per example; caption metrics are None without captions."""
    source_embeddings = scorer.embed_images(sources)
    edit_embeddings = scorer.embed_images(edits)
    instruction_embeddings = scorer.embed_texts(instructions)
    clip_i = clip_formulas.clip_i(source_embeddings, edit_embeddings)
    clip_inst = clip_formulas.clip_inst(edit_embeddings, instruction_embeddings)

    has_captions = [before is not None and after is not None for before, after in zip(captions_before, captions_after)]
    clip_d = [None] * len(sources)
    clip_t = [None] * len(sources)
    indices = [i for i, present in enumerate(has_captions) if present]
    if indices:
        before = scorer.embed_texts([captions_before[i] for i in indices])
        after = scorer.embed_texts([captions_after[i] for i in indices])
        directional = clip_formulas.clip_d(source_embeddings[indices], edit_embeddings[indices], before, after)
        text = clip_formulas.clip_t(edit_embeddings[indices], after)
        for row, i in enumerate(indices):
            clip_d[i] = float(directional[row])
            clip_t[i] = float(text[row])

    return [
        {"clip_i": float(clip_i[i]), "clip_d": clip_d[i], "clip_t": clip_t[i], "clip_inst": float(clip_inst[i])}
        for i in range(len(sources))
    ]
