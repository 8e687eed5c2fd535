"""Time the evaluate stage's metrics: pixel metrics per image pair, CLIP embeddings per image.

    .venv/bin/python bench/evaluate_metrics.py --sides 32 256 512 --pairs 50 --clip-images 16

The CLIP timing uses a model of ViT-B/32 size built from transformers' default CLIPConfig with
random weights: it measures speed only, and its scores are never used as metrics.
"""

import argparse
import time

import numpy as np
import torch
from PIL import Image

from instructmove.evaluate.clip_scorer import ClipScorer
from instructmove.evaluate.pixels import pixel_metrics


def _image(rng: np.random.Generator, side: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def time_pixel_metrics(side: int, pairs: int) -> float:
    """Return milliseconds per pair for PSNR + SSIM + L1 together."""
    rng = np.random.default_rng(0)
    images = [(_image(rng, side), _image(rng, side)) for _ in range(pairs)]
    started = time.perf_counter()
    for edit, target in images:
        pixel_metrics(edit, target)
    return 1000 * (time.perf_counter() - started) / pairs


def time_clip(images: int) -> tuple[float, float]:
    """Return milliseconds per image embedding and per text embedding with a ViT-B/32-sized CLIP."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{chr(c): c - 31 for c in range(33, 127)}}
    vocab.update({chr(c) + "</w>": c + 63 for c in range(33, 127)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    scorer = ClipScorer(folder=None, model=CLIPModel(CLIPConfig()).eval(), processor=processor)

    rng = np.random.default_rng(0)
    batch = [_image(rng, 256) for _ in range(images)]
    started = time.perf_counter()
    scorer.embed_images(batch)
    per_image = 1000 * (time.perf_counter() - started) / images

    texts = ["Turn the head of the person to the left"] * images
    started = time.perf_counter()
    scorer.embed_texts(texts)
    per_text = 1000 * (time.perf_counter() - started) / images
    return per_image, per_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 256, 512], help="image sides in pixels")
    parser.add_argument("--pairs", type=int, default=50, help="image pairs per side")
    parser.add_argument("--clip-images", type=int, default=16, help="images and texts to embed; 0 skips CLIP")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print("| side (px) | PSNR + SSIM + L1 (ms per pair) |")
    print("|---|---|")
    for side in args.sides:
        print(f"| {side} | {time_pixel_metrics(side, args.pairs):.2f} |")

    if args.clip_images:
        per_image, per_text = time_clip(args.clip_images)
        print(f"\nViT-B/32-sized CLIP, {args.threads} threads: {per_image:.1f} ms per image, {per_text:.1f} ms per text")


if __name__ == "__main__":
    main()
