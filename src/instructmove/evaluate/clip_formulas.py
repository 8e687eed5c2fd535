"""CLIP metric formulas on embeddings, one example per row.

Every embedding is L2-normalised first, as CLIP's own similarity does. A cosine with a zero
vector (an identity edit has no image direction) is defined as 0.
"""

import numpy as np

# CLIPScore weight of Hessel et al. (2021), "CLIPScore: A Reference-free Evaluation Metric for
# Image Captioning": CLIPScore = w * max(cos, 0) with w = 2.5.
CLIPSCORE_WEIGHT = 2.5
ZERO_NORM = 1e-12


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit L2 norm; rows of zeros stay zero."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(norms > ZERO_NORM, vectors / np.maximum(norms, ZERO_NORM), 0.0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; 0 where either row is a zero vector."""
    return np.sum(normalize(a) * normalize(b), axis=-1)


def clip_i(source_image: np.ndarray, edited_image: np.ndarray) -> np.ndarray:
    """CLIP-I: cos(E(source), E(edited)), how much of the source image the edit keeps."""
    return cosine(source_image, edited_image)


def clip_d(
    source_image: np.ndarray, edited_image: np.ndarray, caption_before: np.ndarray, caption_after: np.ndarray
) -> np.ndarray:
    """CLIP-D: cos(E(edited) - E(source), E(caption after) - E(caption before)), InstructPix2Pix's directional similarity."""
    image_direction = normalize(edited_image) - normalize(source_image)
    text_direction = normalize(caption_after) - normalize(caption_before)
    return cosine(image_direction, text_direction)


def clip_t(edited_image: np.ndarray, caption_after: np.ndarray) -> np.ndarray:
    """CLIP-T: cos(E(edited), E(caption after)), the raw image-text cosine."""
    return cosine(edited_image, caption_after)


def clip_inst(edited_image: np.ndarray, instruction: np.ndarray) -> np.ndarray:
    """CLIP-Inst as defined in this project: CLIPScore of the edited image against the instruction text.

    2.5 * max(cos(E(edited), E(instruction)), 0). The InstructMove paper does not define its
    CLIP-Inst, so these values are not comparable with the paper's.
    """
    return CLIPSCORE_WEIGHT * np.maximum(cosine(edited_image, instruction), 0.0)
