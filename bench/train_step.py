"""CPU cost of one training step, spatial against channel conditioning at equal pixel count.

    .venv/bin/python bench/train_step.py --preset tiny-pixel --resolution 32 --batch-size 8 --steps 20

Both conditionings see the same source and target images (resolution x resolution each): spatial
denoises one input twice as wide, channel one input with twice the channels. Each conditioning runs
in its own process to measure its peak resident memory (ru_maxrss). The timed steps of both
alternate in one process, so changing machine load affects both alike. A step is forward,
backward, AdamW and the EMA update, without Lightning. Target: spatial at most 2.5x channel.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

TARGET_RATIO = 2.5


def make_step(args, conditioning: str):
    """Build one conditioning's module and return a function that runs one training step."""
    import torch

    from instructmove.model.components import build_components
    from instructmove.model.module import InstructMoveModule
    from instructmove.model.settings import ModelSettings, TrainSettings

    model = ModelSettings(preset=args.preset, conditioning=conditioning, resolution=args.resolution)
    module = InstructMoveModule(build_components(model), model, TrainSettings(batch_size=args.batch_size))
    module.log = lambda *_, **__: None
    optimizer = torch.optim.AdamW(module.trainable_parameters(), lr=1e-4)
    module.lr_schedulers = lambda: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 3, args.resolution, args.resolution)
    batch = {
        "source": torch.rand(shape, generator=generator) * 2 - 1,
        "target": torch.rand(shape, generator=generator) * 2 - 1,
        "instruction": ["Turn the head to the left"] * args.batch_size,
        "index": torch.arange(args.batch_size),
    }

    def step(index: int) -> float:
        started = time.perf_counter()
        loss = module.training_step(batch, index)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        module.ema.step(module.ema_parameters())
        return time.perf_counter() - started

    return step


def time_both(args) -> dict:
    """Alternate spatial and channel steps in one process, so machine load hits both alike."""
    import torch

    torch.set_num_threads(args.threads)
    steps = {name: make_step(args, name) for name in ("channel", "spatial")}
    durations = {name: [] for name in steps}
    for index in range(args.warmup + args.steps):
        for name, step in steps.items():
            duration = step(index)
            if index >= args.warmup:
                durations[name].append(duration)
    return {name: sorted(values)[len(values) // 2] for name, values in durations.items()}


def peak_memory(args) -> dict:
    """Run a few steps of one conditioning and report this process's peak resident memory."""
    import torch

    torch.set_num_threads(args.threads)
    step = make_step(args, args.worker)
    model_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for index in range(3):
        step(index)
    return {"model_rss_mb": round(model_mb, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_worker(args, mode: str) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--preset", args.preset,
               "--resolution", str(args.resolution), "--batch-size", str(args.batch_size),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-pixel", choices=["tiny-pixel", "tiny-latent"])
    parser.add_argument("--resolution", type=int, default=32, help="side of one image, in pixels")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per conditioning")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--worker", choices=["spatial", "channel", "timing"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(time_both(args) if args.worker == "timing" else peak_memory(args)))
        return 0

    timing = run_worker(args, "timing")
    memory = {name: run_worker(args, name) for name in ("channel", "spatial")}
    ratio = timing["spatial"] / timing["channel"]
    print(f"preset {args.preset}, {args.resolution} px per image, batch {args.batch_size}, "
          f"{args.steps} timed steps each (interleaved), {args.threads} threads")
    print(f"{'conditioning':<13}{'UNet input':<12}{'step s':>9}{'steps/s':>9}{'samples/s':>11}{'peak RSS MB':>13}")
    for name in ("channel", "spatial"):
        side = args.resolution // (1 if args.preset == "tiny-pixel" else 8)
        shape = f"6x{side}x{side}" if name == "channel" else f"3x{side}x{2 * side}"
        if args.preset != "tiny-pixel":
            shape = f"8x{side}x{side}" if name == "channel" else f"4x{side}x{2 * side}"
        print(f"{name:<13}{shape:<12}{timing[name]:>9.4f}{1 / timing[name]:>9.2f}"
              f"{args.batch_size / timing[name]:>11.1f}{memory[name]['peak_rss_mb']:>13.1f}")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"spatial / channel step time: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
