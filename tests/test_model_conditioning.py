"""Spatial and channel conditioning: input shapes, target-half loss, dropout rates, conv_in widening."""

import pytest
import torch

from instructmove.model.components import build_components
from instructmove.model.conditioning import denoising_loss, sample_dropout, unet_input, widen_conv_in
from instructmove.model.settings import ModelSettings

torch.set_num_threads(1)

TINY = {"resolution": 16, "tiny_channels": [16, 32], "tiny_text_dim": 16}


def embeddings(batch: int, dim: int = 16) -> torch.Tensor:
    return torch.randn(batch, 77, dim, generator=torch.Generator().manual_seed(1))


def test_spatial_unet_input_twice_as_wide():
    settings = ModelSettings(preset="tiny-pixel", conditioning="spatial", **TINY)
    unet = build_components(settings).unet
    source = torch.randn(2, 3, 16, 16)
    noisy = torch.randn(2, 3, 16, 16)

    model_input = unet_input(source, noisy, "spatial")
    output = unet(model_input, torch.tensor([10, 500]), encoder_hidden_states=embeddings(2)).sample

    assert model_input.shape == (2, 3, 16, 32)
    assert output.shape == (2, 3, 16, 32)
    assert unet.config.in_channels == 3
    assert torch.equal(model_input[..., :16], source)
    assert torch.equal(model_input[..., 16:], noisy)


@pytest.mark.parametrize(("preset", "channels", "resolution"), [("tiny-pixel", 3, 16), ("tiny-latent", 4, 32)])
def test_channel_unet_input_stacks_channels(preset, channels, resolution):
    settings = ModelSettings(preset=preset, conditioning="channel", **{**TINY, "resolution": resolution})
    unet = build_components(settings).unet
    side = resolution // (1 if preset == "tiny-pixel" else 8)
    source = torch.randn(2, channels, side, side)
    noisy = torch.randn(2, channels, side, side)

    model_input = unet_input(source, noisy, "channel")
    output = unet(model_input, torch.tensor([10, 500]), encoder_hidden_states=embeddings(2)).sample

    assert model_input.shape == (2, 2 * channels, side, side)
    assert unet.config.in_channels == 2 * channels
    assert output.shape == (2, channels, side, side)


def test_loss_ignores_source_half():
    noise = torch.randn(2, 3, 8, 8)
    prediction = torch.randn(2, 3, 8, 16)
    loss = denoising_loss(prediction, noise, "spatial")

    changed_source = prediction.clone()
    changed_source[..., :8] = torch.randn(2, 3, 8, 8) * 100
    changed_target = prediction.clone()
    changed_target[..., 8:] += 1.0

    assert torch.equal(denoising_loss(changed_source, noise, "spatial"), loss)
    assert not torch.allclose(denoising_loss(changed_target, noise, "spatial"), loss)
    assert torch.allclose(loss, ((prediction[..., 8:] - noise) ** 2).mean())


def test_dropout_rates_match_settings():
    generator = torch.Generator().manual_seed(0)
    draws = 40_000
    drop_text, drop_image = sample_dropout(draws, 0.1, 0.2, 0.05, generator)

    both = (drop_text & drop_image).float().mean().item()
    text_only = (drop_text & ~drop_image).float().mean().item()
    image_only = (drop_image & ~drop_text).float().mean().item()

    assert abs(both - 0.05) < 0.006
    assert abs(text_only - 0.1) < 0.008
    assert abs(image_only - 0.2) < 0.01


def test_dropout_zero_rates_keep_everything():
    drop_text, drop_image = sample_dropout(1000, 0.0, 0.0, 0.0, torch.Generator().manual_seed(0))
    assert not drop_text.any()
    assert not drop_image.any()


def test_widened_conv_in_keeps_output():
    settings = ModelSettings(preset="tiny-pixel", conditioning="spatial", **TINY)
    unet = build_components(settings).unet.eval()
    noisy = torch.randn(1, 3, 16, 16)
    timestep = torch.tensor([300])
    with torch.no_grad():
        before = unet(noisy, timestep, encoder_hidden_states=embeddings(1)).sample

        widen_conv_in(unet, 3)
        after = unet(unet_input(torch.randn(1, 3, 16, 16), noisy, "channel"), timestep,
                     encoder_hidden_states=embeddings(1)).sample

    assert unet.conv_in.in_channels == 6
    assert unet.config.in_channels == 6
    assert torch.equal(unet.conv_in.weight[:, 3:], torch.zeros_like(unet.conv_in.weight[:, 3:]))
    assert torch.allclose(before, after, atol=1e-6)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_regression_target_per_prediction_type(prediction_type):
    from diffusers import DDPMScheduler

    from instructmove.model.conditioning import regression_target

    scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type)
    clean = torch.full((2, 3, 4, 4), 0.5)
    noise = torch.full((2, 3, 4, 4), -1.0)
    timesteps = torch.tensor([10, 900])
    expected = {
        "epsilon": noise,
        "v_prediction": scheduler.get_velocity(clean, noise, timesteps),
        "sample": clean,
    }[prediction_type]
    assert torch.equal(regression_target(scheduler, clean, noise, timesteps), expected)
