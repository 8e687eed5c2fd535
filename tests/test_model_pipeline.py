"""InstructMovePipeline: masks, ControlNet, save/load, the edit command and the sd15 loading path."""

from argparse import Namespace

import numpy as np
import pytest
import torch
from PIL import Image

from instructmove.errors import StageError
from instructmove.model import edit
from instructmove.model.components import build_components, build_pipeline
from instructmove.model.pipeline import InstructMovePipeline
from instructmove.model.settings import ModelSettings

torch.set_num_threads(1)

TINY = {"tiny_channels": [16, 32], "tiny_text_dim": 16}


def tiny_pipeline(preset="tiny-pixel", conditioning="spatial", resolution=16, controlnet=False):
    settings = ModelSettings(preset=preset, conditioning=conditioning, resolution=resolution, **TINY)
    pipe = build_pipeline(settings, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def random_image(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def half_mask(size: int) -> tuple[Image.Image, np.ndarray]:
    """White (may change) on the left half, black (keep) on the right half."""
    keep = np.zeros((size, size), dtype=bool)
    keep[:, size // 2 :] = True
    return Image.fromarray(np.where(keep, 0, 255).astype(np.uint8)), keep


def edit_once(pipe, image, **kwargs):
    return pipe(image=image, prompt="Move the square to the left", num_inference_steps=3,
                generator=torch.Generator().manual_seed(0), **kwargs)


def test_pipeline_output_size_and_count():
    pipe = tiny_pipeline()
    images = edit_once(pipe, [random_image(24, 1), random_image(40, 2)]).images
    assert len(images) == 2
    assert all(image.size == (16, 16) for image in images)


@pytest.mark.parametrize("conditioning", ["spatial", "channel"])
def test_mask_keeps_pixels_outside_exactly(conditioning):
    pipe = tiny_pipeline(conditioning=conditioning)
    source = random_image(16)
    mask, keep = half_mask(16)

    edited = np.asarray(edit_once(pipe, source, mask_image=mask).images[0]).astype(int)
    original = np.asarray(source).astype(int)

    assert np.array_equal(edited[keep], original[keep])
    assert np.abs(edited[~keep] - original[~keep]).max() > 0


def test_mask_in_latent_space_within_tolerance():
    pipe = tiny_pipeline(preset="tiny-latent", resolution=32)
    source = random_image(32)
    mask, keep = half_mask(32)

    latents = edit_once(pipe, source, mask_image=mask, output_type="latent").images
    with torch.no_grad():
        from instructmove.model import imaging

        source_latents = pipe.encode_image(imaging.to_tensor(source)[None])
        reconstruction = pipe.decode_latents(source_latents)
        decoded = pipe.decode_latents(latents)
    keep_latent = torch.from_numpy(keep[::8, ::8])

    assert torch.allclose(latents[..., keep_latent], source_latents[..., keep_latent], atol=1e-6)
    assert not torch.allclose(latents[..., ~keep_latent], source_latents[..., ~keep_latent], atol=1e-3)
    outside = (decoded - reconstruction)[..., torch.from_numpy(keep)].abs().mean()
    inside = (decoded - reconstruction)[..., ~torch.from_numpy(keep)].abs().mean()
    # The random tiny VAE normalises over the whole image (GroupNorm), so decoded pixels outside the
    # mask move too. They must still move less than those inside it.
    assert outside < inside


def test_control_image_changes_output():
    pipe = tiny_pipeline(controlnet=True)
    # A fresh ControlNet adds zeros (zero convolutions); give it weights so the condition reaches the UNet.
    with torch.no_grad():
        zero_convs = [*pipe.controlnet.controlnet_down_blocks, pipe.controlnet.controlnet_mid_block,
                      pipe.controlnet.controlnet_cond_embedding.conv_out]
        for block in zero_convs:
            torch.nn.init.normal_(block.weight, std=0.2)
    source = random_image(16)
    edges_a = Image.fromarray(np.tile(np.eye(16, dtype=np.uint8)[..., None] * 255, (1, 1, 3)))
    edges_b = Image.fromarray(np.tile(np.fliplr(np.eye(16, dtype=np.uint8))[..., None] * 255, (1, 1, 3)))

    plain = np.asarray(edit_once(pipe, source).images[0])
    with_a = np.asarray(edit_once(pipe, source, control_image=edges_a).images[0])
    with_a_again = np.asarray(edit_once(pipe, source, control_image=edges_a).images[0])
    with_b = np.asarray(edit_once(pipe, source, control_image=edges_b).images[0])

    assert np.array_equal(with_a, with_a_again)
    assert not np.array_equal(plain, with_a)
    assert not np.array_equal(with_a, with_b)


def test_control_image_without_controlnet_raises():
    with pytest.raises(ValueError, match="train.controlnet"):
        edit_once(tiny_pipeline(), random_image(16), control_image=random_image(16))


def test_guidance_scales_change_output():
    pipe = tiny_pipeline()
    source = random_image(16)
    base = np.asarray(edit_once(pipe, source).images[0])
    text = np.asarray(edit_once(pipe, source, guidance_scale=1.0).images[0])
    image = np.asarray(edit_once(pipe, source, image_guidance_scale=3.0).images[0])
    assert not np.array_equal(base, text)
    assert not np.array_equal(base, image)


@pytest.mark.parametrize(("preset", "conditioning", "resolution"),
                         [("tiny-pixel", "spatial", 16), ("tiny-latent", "channel", 32)])
def test_edit_round_trips_save_and_load(tmp_path, preset, conditioning, resolution):
    pipe = tiny_pipeline(preset=preset, conditioning=conditioning, resolution=resolution)
    pipe.save_pretrained(tmp_path / "pipeline")
    source = random_image(resolution)
    source.save(tmp_path / "source.png")
    expected = pipe(image=source, prompt="Turn the head to the left", num_inference_steps=4,
                    guidance_scale=5.0, image_guidance_scale=1.5,
                    generator=torch.Generator().manual_seed(3)).images[0]

    args = Namespace(image=str(tmp_path / "source.png"), instruction="Turn the head to the left", mask=None,
                     control=None, pipeline=str(tmp_path / "pipeline"), image_guidance=1.5, guidance=5.0,
                     steps=4, seed=3, out=str(tmp_path / "out" / "edited.png"))
    written = edit.run(args)
    loaded = InstructMovePipeline.from_pretrained(tmp_path / "pipeline")

    assert written.is_file()
    assert np.array_equal(np.asarray(Image.open(written)), np.asarray(expected))
    assert loaded.config.conditioning == conditioning
    assert loaded.config.resolution == resolution
    assert (loaded.vae is None) == (preset == "tiny-pixel")


def test_edit_missing_pipeline_names_folder(tmp_path):
    random_image(16).save(tmp_path / "source.png")
    args = Namespace(image=str(tmp_path / "source.png"), instruction="Raise the arm", mask=None, control=None,
                     pipeline=str(tmp_path / "nowhere"), image_guidance=1.5, guidance=7.5, steps=2, seed=0,
                     out=str(tmp_path / "edited.png"))
    with pytest.raises(StageError, match="nowhere"):
        edit.run(args)


def save_sd15_layout(folder):
    """Save tiny components in the diffusers layout of an SD 1.5 checkpoint."""
    components = build_components(ModelSettings(preset="tiny-latent", resolution=32, **TINY))
    components.unet.save_pretrained(folder / "unet")
    components.vae.save_pretrained(folder / "vae")
    components.text_encoder.save_pretrained(folder / "text_encoder")
    components.tokenizer.save_pretrained(folder / "tokenizer")
    components.scheduler.save_pretrained(folder / "scheduler")
    return components


@pytest.mark.parametrize("conditioning", ["spatial", "channel"])
def test_sd15_loads_from_diffusers_folder(tmp_path, conditioning):
    saved = save_sd15_layout(tmp_path / "sd15")
    settings = ModelSettings(preset="sd15", conditioning=conditioning, resolution=64,
                             pretrained_dir=str(tmp_path / "sd15"))

    components = build_components(settings)
    pipe = build_pipeline(settings)
    pipe.set_progress_bar_config(disable=True)
    image = edit_once(pipe, random_image(64)).images[0]

    assert components.unet.config.in_channels == (8 if conditioning == "channel" else 4)
    assert torch.equal(components.vae.decoder.conv_out.weight, saved.vae.decoder.conv_out.weight)
    assert components.tokenizer.tokenize("turn left") == saved.tokenizer.tokenize("turn left")
    assert image.size == (64, 64)


def test_sd15_missing_subfolders_named(tmp_path):
    (tmp_path / "sd15" / "unet").mkdir(parents=True)
    settings = ModelSettings(preset="sd15", resolution=64, pretrained_dir=str(tmp_path / "sd15"))
    with pytest.raises(StageError) as error:
        build_components(settings)
    message = str(error.value)
    assert str(tmp_path / "sd15") in message
    assert "vae, text_encoder, tokenizer, scheduler" in message


def test_sd15_missing_folder_named(tmp_path):
    settings = ModelSettings(preset="sd15", resolution=64, pretrained_dir=str(tmp_path / "absent"))
    with pytest.raises(StageError, match="does not exist"):
        build_components(settings)


@pytest.mark.parametrize(("preset", "clipped"), [("tiny-pixel", True), ("tiny-latent", False)])
def test_sample_clipping_only_in_pixels(preset, clipped):
    pipe = build_pipeline(ModelSettings(preset=preset, resolution=32, **TINY))
    assert pipe.scheduler.config.clip_sample is clipped
