"""How the source enters the UNet: side by side along the width (spatial) or stacked on channels.

Spatial conditioning feeds [source | noisy target] as one image twice as wide, so the UNet needs no
change and attention can move content between the halves. Channel conditioning (InstructPix2Pix)
stacks [noisy target, source] on channels and needs a wider `conv_in`.
"""

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel


def unet_input(source: torch.Tensor, noisy_target: torch.Tensor, conditioning: str) -> torch.Tensor:
    """Combine the clean source latent and the noisy target latent into the UNet's input."""
    if conditioning == "spatial":
        return torch.cat([source, noisy_target], dim=-1)
    if conditioning == "channel":
        return torch.cat([noisy_target, source], dim=1)
    raise ValueError(f"model.conditioning = {conditioning!r}: expected 'spatial' or 'channel'")


def target_part(prediction: torch.Tensor, conditioning: str) -> torch.Tensor:
    """Return the part of the UNet output that predicts the target's noise (the right half when spatial)."""
    if conditioning == "spatial":
        width = prediction.shape[-1] // 2
        return prediction[..., width:]
    return prediction


def control_input(control: torch.Tensor, conditioning: str) -> torch.Tensor:
    """Place a control image where the target sits in the UNet input; the source half gets zeros."""
    if conditioning == "spatial":
        return torch.cat([torch.zeros_like(control), control], dim=-1)
    return control


def denoising_loss(prediction: torch.Tensor, noise: torch.Tensor, conditioning: str) -> torch.Tensor:
    """Mean squared error between the prediction and its regression target, on the target only.

    `noise` is the regression target: the true noise for epsilon prediction, the velocity for
    v-prediction, or the clean target for sample prediction (see `regression_target`).
    """
    return F.mse_loss(target_part(prediction, conditioning).float(), noise.float())


def regression_target(scheduler, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Return what the UNet should predict under the scheduler's prediction type."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(clean, noise, timesteps)
    if prediction_type == "sample":
        return clean
    raise ValueError(f"scheduler prediction_type {prediction_type!r} is not supported; use epsilon, v_prediction or sample")


def sample_dropout(
    batch_size: int, text_rate: float, image_rate: float, both_rate: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw which samples lose their instruction and which lose their source image.

    The three cases are disjoint: only text, only image, or both dropped, at the configured rates.
    """
    draw = torch.rand(batch_size, generator=generator)
    both = draw < both_rate
    text_only = (draw >= both_rate) & (draw < both_rate + text_rate)
    image_only = (draw >= both_rate + text_rate) & (draw < both_rate + text_rate + image_rate)
    return both | text_only, both | image_only


def widen_conv_in(unet: UNet2DConditionModel, extra_channels: int) -> UNet2DConditionModel:
    """Give `conv_in` extra input channels with zero weights, so the output is unchanged at first."""
    old = unet.conv_in
    new = torch.nn.Conv2d(
        old.in_channels + extra_channels,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=new.in_channels)
    return unet
