"""CLIP loading from a local folder and CLIP metrics computed through a real (tiny) CLIPModel."""

import numpy as np
import pytest
import torch
from helpers_evaluate import noise_image, save_tiny_clip

from instructmove.evaluate import clip_formulas
from instructmove.evaluate.clip_scorer import ClipUnavailable, load_clip, score_examples

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


def _manual_image_features(folder, images):
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
    with torch.no_grad():
        output = model.get_image_features(pixel_values=processor(images=images, return_tensors="pt")["pixel_values"])
    return output.pooler_output.numpy()


def test_null_folder_is_not_computed():
    with pytest.raises(ClipUnavailable, match="evaluate.clip_model is null"):
        load_clip(None)


def test_missing_folder_is_not_computed(tmp_path):
    with pytest.raises(ClipUnavailable, match="no config.json"):
        load_clip(tmp_path / "absent")


def test_untrained_clip_is_rejected(tmp_path):
    folder = save_tiny_clip(tmp_path / "untrained", trained=False)
    with pytest.raises(ClipUnavailable, match="look untrained"):
        load_clip(folder)


def test_clip_with_missing_weights_is_rejected(tmp_path, clip_folder):
    from safetensors.torch import load_file, save_file

    folder = save_tiny_clip(tmp_path / "partial")
    weights = load_file(folder / "model.safetensors")
    del weights["visual_projection.weight"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ClipUnavailable, match="weights missing"):
        load_clip(folder)


def test_image_embeddings_match_model(clip_folder):
    images = [noise_image(1), noise_image(2)]
    scorer = load_clip(clip_folder)
    np.testing.assert_allclose(scorer.embed_images(images), _manual_image_features(clip_folder, images), rtol=1e-5, atol=1e-6)


def test_scores_follow_formulas(clip_folder):
    scorer = load_clip(clip_folder)
    sources = [noise_image(3), noise_image(4)]
    edits = [noise_image(5), noise_image(6)]
    instructions = ["raise the arm", "turn the camera left"]
    before = ["a man", None]
    after = ["a man waving", None]

    rows = score_examples(scorer, sources, edits, instructions, before, after)

    source_embeddings = scorer.embed_images(sources)
    edit_embeddings = scorer.embed_images(edits)
    instruction_embeddings = scorer.embed_texts(instructions)
    before_embedding = scorer.embed_texts(["a man"])
    after_embedding = scorer.embed_texts(["a man waving"])
    assert rows[0]["clip_i"] == pytest.approx(clip_formulas.clip_i(source_embeddings[:1], edit_embeddings[:1])[0])
    assert rows[1]["clip_inst"] == pytest.approx(clip_formulas.clip_inst(edit_embeddings[1:], instruction_embeddings[1:])[0])
    assert rows[0]["clip_d"] == pytest.approx(
        clip_formulas.clip_d(source_embeddings[:1], edit_embeddings[:1], before_embedding, after_embedding)[0]
    )
    assert rows[0]["clip_t"] == pytest.approx(clip_formulas.clip_t(edit_embeddings[:1], after_embedding)[0])
    assert rows[1]["clip_d"] is None
    assert rows[1]["clip_t"] is None


def test_identity_edit_has_unit_clip_i(clip_folder):
    scorer = load_clip(clip_folder)
    source = noise_image(7)
    row = score_examples(scorer, [source], [source.copy()], ["raise the arm"], ["a"], ["b"])[0]
    assert row["clip_i"] == pytest.approx(1.0)
    assert row["clip_d"] == 0.0
