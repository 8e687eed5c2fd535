"""GPU training-step throughput of an SD 1.5-size UNet (random weights from a config), spatial vs channel.

    python bench/gpu_train_step.py --resolution 256 --batch-size 16 --steps 20

No weights are needed: the UNet is built from SD 1.5's architecture (block widths 320/640/1280/1280,
cross-attention width 768), the text embeddings are random, and the latents are random at
resolution / 8. Steps run under bf16 autocast with AdamW. Prints samples/s, peak GPU memory and the
attention kernels seen in a profiled step. Without a CUDA GPU it prints why and exits with code 2.
"""

import argparse
import sys
import time

import torch

SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}


def build_unet(conditioning: str):
    from diffusers import UNet2DConditionModel

    from instructmove.model.conditioning import widen_conv_in

    unet = UNet2DConditionModel(**SD15_UNET)
    if conditioning == "channel":
        widen_conv_in(unet, 4)
    return unet.to("cuda")


def attention_kernels(step) -> list[str]:
    """Run one step under the profiler and return the CUDA kernel names that look like attention."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        step()
        torch.cuda.synchronize()
    names = {event.key for event in profiler.key_averages()}
    keys = ("flash", "fmha", "attention", "efficient", "cudnn_sdpa", "sdpa")
    return sorted(name[:90] for name in names if any(key in name.lower() for key in keys))


def measure(conditioning: str, args) -> dict:
    from instructmove.model.conditioning import denoising_loss, unet_input

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    unet = build_unet(conditioning)
    processor = type(next(iter(unet.attn_processors.values()))).__name__
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-5)
    side = args.resolution // 8
    source = torch.randn(args.batch_size, 4, side, side, device="cuda")
    target = torch.randn(args.batch_size, 4, side, side, device="cuda")
    text = torch.randn(args.batch_size, 77, 768, device="cuda")
    timesteps = torch.randint(0, 1000, (args.batch_size,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            prediction = unet(unet_input(source, target, conditioning), timesteps, encoder_hidden_states=text).sample
            loss = denoising_loss(prediction, target, conditioning)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    kernels = attention_kernels(step)
    result = {
        "conditioning": conditioning,
        "samples_per_s": args.batch_size * args.steps / elapsed,
        "step_s": elapsed / args.steps,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
        "kernels": kernels,
        "processor": processor,
    }
    del unet, optimizer
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256, help="side of one image, in pixels")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per conditioning")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        print("No CUDA GPU is visible (torch.cuda.is_available() is False); run this on an NVIDIA GPU machine.")
        return 2

    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16 autocast, "
          f"{args.resolution} px, batch {args.batch_size}, {args.steps} timed steps")
    print(f"SDPA backends enabled: flash={torch.backends.cuda.flash_sdp_enabled()} "
          f"mem_efficient={torch.backends.cuda.mem_efficient_sdp_enabled()} "
          f"cudnn={torch.backends.cuda.cudnn_sdp_enabled()} math={torch.backends.cuda.math_sdp_enabled()}")
    results = [measure(name, args) for name in ("channel", "spatial")]
    for result in results:
        print(f"{result['conditioning']:<8} {result['samples_per_s']:8.1f} samples/s  {result['step_s'] * 1000:7.1f} ms/step  "
              f"peak {result['peak_gib']:6.2f} GiB")
        print(f"         diffusers attention processor {result['processor']}; "
              f"attention kernels: {', '.join(result['kernels']) or 'none matched'}")
    print(f"spatial / channel step time: {results[1]['step_s'] / results[0]['step_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
