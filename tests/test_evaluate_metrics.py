"""Metric formulas against hand-computed values, and the identity-edit floor."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from instructmove.evaluate import clip_formulas
from instructmove.evaluate.methods import IdentityEditor
from instructmove.evaluate.pixels import l1, pixel_metrics, psnr, ssim, to_array
from instructmove.evaluate.scoring import score_method, summarize
from helpers_evaluate import noise_image

torch.set_num_threads(1)

SOURCE = np.array([[1.0, 0.0, 0.0]])
EDITED = np.array([[0.6, 0.8, 0.0]])
BEFORE = np.array([[1.0, 0.0, 0.0]])
AFTER = np.array([[0.0, 1.0, 0.0]])


def test_clip_i_is_cosine():
    assert clip_formulas.clip_i(SOURCE, EDITED)[0] == pytest.approx(0.6)


def test_clip_i_ignores_vector_length():
    assert clip_formulas.clip_i(3 * SOURCE, 0.5 * EDITED)[0] == pytest.approx(0.6)


def test_clip_d_hand_computed():
    # image direction (0.6, 0.8, 0) - (1, 0, 0) = (-0.4, 0.8, 0); text direction (-1, 1, 0)
    # cos = (0.4 + 0.8) / (sqrt(0.8) * sqrt(2)) = 1.2 / sqrt(1.6)
    expected = 1.2 / math.sqrt(1.6)
    assert clip_formulas.clip_d(SOURCE, EDITED, BEFORE, AFTER)[0] == pytest.approx(expected)


def test_clip_d_normalises_before_difference():
    # Scaling the raw embeddings must not change the directions, since CLIP features are unit vectors.
    value = clip_formulas.clip_d(2 * SOURCE, 5 * EDITED, 7 * BEFORE, 0.1 * AFTER)[0]
    assert value == pytest.approx(1.2 / math.sqrt(1.6))


def test_clip_d_zero_direction_is_zero():
    assert clip_formulas.clip_d(SOURCE, SOURCE, BEFORE, AFTER)[0] == 0.0


def test_clip_t_is_cosine_with_caption_after():
    assert clip_formulas.clip_t(EDITED, AFTER)[0] == pytest.approx(0.8)


def test_clip_inst_is_clipscore():
    instruction = np.array([[0.0, 0.6, 0.8]])
    # cos((0.6, 0.8, 0), (0, 0.6, 0.8)) = 0.48; 2.5 * 0.48 = 1.2
    assert clip_formulas.clip_inst(EDITED, instruction)[0] == pytest.approx(1.2)


def test_clip_inst_clamps_negative_cosine():
    assert clip_formulas.clip_inst(EDITED, -EDITED)[0] == 0.0


def test_formulas_work_row_wise():
    sources = np.array([[1.0, 0.0], [0.0, 1.0]])
    edits = np.array([[0.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(clip_formulas.clip_i(sources, edits), [0.0, 1.0])


def test_l1_hand_computed():
    edit = np.zeros((2, 2, 3))
    target = np.full((2, 2, 3), 0.25)
    assert l1(edit, target) == pytest.approx(0.25)


def test_psnr_hand_computed():
    edit = np.zeros((4, 4, 3))
    target = np.full((4, 4, 3), 0.1)
    # MSE = 0.01, so PSNR = 10 * log10(1 / 0.01) = 20 dB
    assert psnr(edit, target) == pytest.approx(20.0)


def test_psnr_identical_is_capped():
    image = np.full((4, 4, 3), 0.5)
    assert psnr(image, image) == pytest.approx(100.0)


def test_ssim_identical_is_one():
    image = to_array(noise_image(3, (32, 32)))
    assert ssim(image, image) == pytest.approx(1.0)


def test_ssim_constant_images_hand_computed():
    # Constant images have no variance, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1).
    edit = np.full((16, 16, 3), 0.2)
    target = np.full((16, 16, 3), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert ssim(edit, target) == pytest.approx(expected, rel=1e-9)


def test_ssim_matches_torchmetrics_interior():
    from torchmetrics.functional.image import structural_similarity_index_measure

    edit = to_array(noise_image(4, (40, 40)))
    target = np.clip(edit + np.random.default_rng(0).normal(0, 0.1, edit.shape), 0, 1)
    _, ssim_map = structural_similarity_index_measure(
        torch.from_numpy(edit).permute(2, 0, 1)[None],
        torch.from_numpy(target).permute(2, 0, 1)[None],
        data_range=1.0,
        return_full_image=True,
    )
    # torchmetrics averages over the reflect-padded border too; the 5-pixel interior crop is the
    # part both implementations compute from real pixels only.
    reference = float(ssim_map[..., 5:-5, 5:-5].mean())
    assert ssim(edit, target) == pytest.approx(reference, abs=1e-9)


def test_pixel_metrics_reject_size_mismatch():
    with pytest.raises(ValueError, match="resize the target first"):
        pixel_metrics(noise_image(0, (8, 8)), noise_image(1, (9, 8)))


def test_identity_edit_returns_source():
    source = noise_image(5, (16, 16))
    edited = IdentityEditor().edit([source], ["Raise the arm"], [None])[0]
    assert np.array_equal(np.asarray(edited), np.asarray(source))


def test_identity_floor_equals_source_against_target():
    from instructmove.evaluate.benchmark import BenchmarkExample

    sources = [noise_image(6, (16, 16)), noise_image(7, (16, 16))]
    targets = [noise_image(8, (16, 16)), sources[1].copy()]
    examples = [
        BenchmarkExample(f"pair-{i}", i + 1, None, "Raise the arm", None, None, None, None) for i in range(2)
    ]
    edits = IdentityEditor().edit(sources, [e.instruction for e in examples], [None, None])
    rows = score_method("identity", examples, sources, targets, edits, scorer=None)

    direct = pixel_metrics(sources[0], targets[0])
    assert rows[0]["psnr"] == pytest.approx(direct["psnr"])
    assert rows[0]["l1"] == pytest.approx(direct["l1"])
    assert rows[1]["l1"] == 0.0
    assert rows[1]["ssim"] == pytest.approx(1.0)

    summary = summarize(rows)["identity"]
    assert summary["l1"] == pytest.approx(direct["l1"] / 2)
    assert summary["clip_i"] is None
    assert summary["counts"] == {"target": 2, "clip": 0, "captions": 0}


def test_score_method_resizes_target_to_edit():
    from instructmove.evaluate.benchmark import BenchmarkExample

    example = BenchmarkExample("pair-0", 1, None, "Raise the arm", None, None, None, None)
    edit = Image.new("RGB", (8, 8), (10, 20, 30))
    target = Image.new("RGB", (32, 32), (10, 20, 30))
    row = score_method("instructmove", [example], [edit], [target], [edit], scorer=None)[0]
    assert row["l1"] == 0.0
