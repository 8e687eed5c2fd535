"""Builders for the evaluate tests: a tiny CLIP folder and benchmark folders with real image files."""

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# A trained CLIP ends with logit_scale = ln(100), the clamp used when OpenAI trained it.
TRAINED_LOGIT_SCALE = math.log(100.0)


def tiny_clip_tokenizer():
    """A character-level CLIPTokenizer: every lowercase letter, digit and punctuation mark is a word piece."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    characters = [chr(code) for code in range(33, 127)]
    for character in characters:
        vocab[character] = len(vocab)
    for character in characters:
        vocab[character + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def save_tiny_clip(folder: Path, trained: bool = True, seed: int = 0) -> Path:
    """Build a tiny CLIPModel and CLIPProcessor from configs and save them to `folder`.

    With trained=True the logit scale is set to the value a trained CLIP has, so the folder passes
    the untrained-weights check; the other weights stay random.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer.get_vocab()), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": 32, "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    if trained:
        with torch.no_grad():
            model.logit_scale.fill_(TRAINED_LOGIT_SCALE)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def noise_image(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A reproducible RGB noise image of (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def write_benchmark(folder: Path, count: int = 3, captions: bool = True, extra_lines: list[str] | None = None) -> Path:
    """Write `count` source/target PNG pairs and benchmark.jsonl; returns the JSONL path."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        noise_image(2 * index).save(images / f"{index}_source.png")
        noise_image(2 * index + 1).save(images / f"{index}_target.png")
        row = {
            "pair_id": f"pair-{index}",
            "source": f"images/{index}_source.png",
            "target": f"images/{index}_target.png",
            "instruction": f"Turn the head to the left {index}",
        }
        if captions:
            row["caption_before"] = "a person looking ahead"
            row["caption_after"] = "a person looking to the left"
        lines.append(json.dumps(row))
    lines.extend(extra_lines or [])
    path = folder / "benchmark.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def save_tiny_ip2p(folder: Path, seed: int = 0) -> Path:
    """Build a tiny StableDiffusionInstructPix2PixPipeline from configs and save it to `folder`.

    The UNet takes 8 channels (noisy latent and source latent stacked), as InstructPix2Pix's does;
    the VAE downsamples 2x.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8,
    )
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
    )
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder
