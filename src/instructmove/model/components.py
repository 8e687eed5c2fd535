"""Model presets: the UNet, text encoder, tokenizer, VAE and scheduler for each `model.preset`.

    pipe = build_pipeline(params.model)        # untrained pipeline from configs (or sd15 weights)

`tiny-pixel` denoises RGB pixels directly, `tiny-latent` adds a small AutoencoderKL with four blocks
(8x downsampling), and `sd15` loads every component from `model.pretrained_dir` in diffusers layout.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from instructmove.errors import StageError
from instructmove.model.conditioning import widen_conv_in
from instructmove.model.tokenizer import build_tokenizer

log = logging.getLogger(__name__)

SD15_SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class Components:
    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDPMScheduler
    vae: AutoencoderKL | None = None
    controlnet: ControlNetModel | None = None


def latent_channels(settings) -> int:
    return 3 if settings.preset == "tiny-pixel" else 4


def tiny_unet(settings, in_channels: int, out_channels: int) -> UNet2DConditionModel:
    """Build a small UNet; every level but the first has self- and cross-attention."""
    channels = tuple(settings.tiny_channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(channels) - 1)
    up = ("CrossAttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",)
    factor = 1 if settings.preset == "tiny-pixel" else 8
    return UNet2DConditionModel(
        sample_size=settings.resolution // factor,
        in_channels=in_channels,
        out_channels=out_channels,
        block_out_channels=channels,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=1,
        cross_attention_dim=settings.tiny_text_dim,
        # diffusers reads this as the number of heads per block. Heads of width 32 keep the
        # quadratic attention share small, because spatial conditioning doubles the tokens.
        attention_head_dim=tuple(max(1, width // 32) for width in channels),
        norm_num_groups=8,
    )


def tiny_text_encoder(settings, tokenizer: CLIPTokenizer) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.tiny_text_dim,
        intermediate_size=settings.tiny_text_dim * 4,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def tiny_vae(settings) -> AutoencoderKL:
    """Build a four-block AutoencoderKL: three downsamplings, so latents are 8x smaller."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=settings.resolution,
        mid_block_add_attention=False,
    )


def build_tiny(settings) -> Components:
    channels = latent_channels(settings)
    tokenizer = build_tokenizer()
    beta_schedule = "squaredcos_cap_v2" if settings.preset == "tiny-pixel" else "scaled_linear"
    return Components(
        unet=tiny_unet(settings, channels, channels),
        text_encoder=tiny_text_encoder(settings, tokenizer),
        tokenizer=tokenizer,
        scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule=beta_schedule,
            prediction_type=settings.prediction_type or "epsilon",
            # Clipping the predicted sample to [-1, 1] fits pixels only; VAE latents range wider.
            clip_sample=settings.preset == "tiny-pixel",
        ),
        vae=tiny_vae(settings) if settings.preset == "tiny-latent" else None,
    )


def _sd15_scheduler(folder: Path, prediction_type: str | None) -> DDPMScheduler:
    scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    if prediction_type is None:
        return scheduler
    return DDPMScheduler.from_config(scheduler.config, prediction_type=prediction_type)


def load_sd15(settings) -> Components:
    """Load SD 1.5 from a local diffusers-layout folder; nothing is downloaded."""
    folder = Path(settings.pretrained_dir or "")
    missing = [name for name in SD15_SUBFOLDERS if not (folder / name).is_dir()]
    if not settings.pretrained_dir or not folder.is_dir() or missing:
        raise StageError(
            f"model.pretrained_dir = {settings.pretrained_dir!r}: preset sd15 needs a local diffusers-layout folder "
            f"with the subfolders {', '.join(SD15_SUBFOLDERS)}"
            + (f"; missing: {', '.join(missing)}" if folder.is_dir() else "; the folder does not exist")
            + ". Save one with StableDiffusionPipeline.save_pretrained and point model.pretrained_dir at it."
        )
    return Components(
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet"),
        text_encoder=CLIPTextModel.from_pretrained(folder, subfolder="text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"),
        scheduler=_sd15_scheduler(folder, settings.prediction_type),
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae"),
    )


def make_controlnet(components: Components) -> ControlNetModel:
    """Initialise a ControlNet from the UNet; its condition embedding downsamples as much as the VAE."""
    if components.vae is None:
        embedding_channels = (16,)
    else:
        levels = len(components.vae.config.block_out_channels)
        embedding_channels = tuple(16 * 2**i for i in range(levels))
    return ControlNetModel.from_unet(components.unet, conditioning_embedding_out_channels=embedding_channels)


def build_components(settings, controlnet: bool = False, seed: int = 0) -> Components:
    """Build (tiny presets, seeded) or load (sd15) the components and apply the conditioning."""
    torch.manual_seed(seed)
    components = load_sd15(settings) if settings.preset == "sd15" else build_tiny(settings)

    channels = latent_channels(settings)
    in_channels = components.unet.config.in_channels
    if settings.conditioning == "channel" and in_channels == channels:
        widen_conv_in(components.unet, channels)
    elif in_channels != (2 * channels if settings.conditioning == "channel" else channels):
        raise StageError(
            f"model.conditioning = {settings.conditioning!r} does not fit a UNet with {in_channels} input channels "
            f"(latents have {channels}); use the other conditioning or another model.pretrained_dir"
        )

    if controlnet:
        components.controlnet = make_controlnet(components)
    return components


def build_pipeline(model_settings, controlnet: bool = False, seed: int = 0):
    """Return an untrained InstructMovePipeline built from the `model` settings."""
    from instructmove.model.pipeline import InstructMovePipeline

    components = build_components(model_settings, controlnet=controlnet, seed=seed)
    return InstructMovePipeline.from_components(components, model_settings)
