"""Throughput of the openai backend against the local fake server, at several in-flight limits.

    .venv/bin/python bench/instruct_throughput.py --latency 0.2 --concurrency 1 4 16 64

Each run writes fresh frames and an empty cache in a temporary folder, so every pair is a real
request: frame hashing and encoding, the openai client, the cache write. The server runs in its
own process, so it does not share the client's interpreter lock. The target is
0.8 x concurrency / latency pairs per second.
"""

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers_fake_openai import FakeOpenAIServer  # noqa: E402
from instructmove.instruct.mllm_backend import instruct_pairs  # noqa: E402
from instructmove.instruct.settings import InstructSettings  # noqa: E402


def write_frames(folder: Path, count: int, width: int, height: int) -> list[dict]:
    """Write smooth gradient frames, different per pair, and return minimal pair rows."""
    folder.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:height, 0:width]
    pairs = []
    for index in range(count):
        paths = []
        for side, shift in (("source", 0), ("target", 7)):
            red = (xs + index + shift) % 256
            green = (ys * 2 + index) % 256
            blue = (xs + ys + 3 * index) % 256
            pixels = np.stack([red, green, blue], axis=-1).astype(np.uint8)
            path = folder / f"pair{index:05d}_{side}.jpg"
            Image.fromarray(pixels).save(path, quality=95)
            paths.append(str(path))
        pairs.append({"pair_id": f"pair{index:05d}", "source_path": paths[0], "target_path": paths[1]})
    return pairs


def serve(latency_s: float, connection) -> None:
    """Run the fake server until the parent requests its counters."""
    with FakeOpenAIServer(latency_s=latency_s) as server:
        connection.send(server.base_url)
        connection.recv()
        connection.send({"requests": len(server.requests), "max_in_flight": server.max_in_flight})


def measure(concurrency: int, pairs_count: int, latency_s: float, width: int, height: int) -> dict:
    parent_end, child_end = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(latency_s, child_end), daemon=True)
    server.start()
    base_url = parent_end.recv()
    with tempfile.TemporaryDirectory() as folder:
        pairs = write_frames(Path(folder) / "frames", pairs_count, width, height)
        settings = InstructSettings(backend="openai", base_url=base_url, max_in_flight=concurrency,
                                    cache_dir=str(Path(folder) / "cache"), api_key_env="INSTRUCTMOVE_BENCH_KEY")
        start = time.perf_counter()
        results, _ = instruct_pairs(pairs, settings)
        wall = time.perf_counter() - start
    parent_end.send("stop")
    counters = parent_end.recv()
    server.join(timeout=10)

    ok = sum(1 for row in results.values() if row["status"] == "ok")
    throughput = pairs_count / wall
    target = 0.8 * concurrency / latency_s
    return {"concurrency": concurrency, "pairs": pairs_count, "ok": ok, "wall_s": wall,
            "pairs_per_s": throughput, "target": target, "ratio": throughput / target,
            "peak_in_flight": counters["max_in_flight"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, in seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64],
                        help="instruct.max_in_flight values to measure")
    parser.add_argument("--batches", type=int, default=10,
                        help="pairs per run = max(40, batches x concurrency)")
    parser.add_argument("--width", type=int, default=341, help="frame width, in pixels")
    parser.add_argument("--height", type=int, default=256, help="frame height, in pixels")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # The first run pays the openai client's lazy imports; keep that out of the figures.
    measure(4, 8, args.latency, args.width, args.height)

    print(f"latency {args.latency * 1000:.0f} ms, frames {args.width}x{args.height}")
    print("| max_in_flight | pairs | wall s | pairs/s | target pairs/s | ratio | peak in flight |")
    print("|---|---|---|---|---|---|---|")
    worst = float("inf")
    for concurrency in args.concurrency:
        row = measure(concurrency, max(40, args.batches * concurrency), args.latency, args.width, args.height)
        worst = min(worst, row["ratio"])
        print(f"| {row['concurrency']} | {row['pairs']} | {row['wall_s']:.2f} | {row['pairs_per_s']:.1f} | "
              f"{row['target']:.1f} | {row['ratio']:.2f} | {row['peak_in_flight']} |", flush=True)
        if row["ok"] != row["pairs"]:
            print(f"  {row['pairs'] - row['ok']} pairs did not come back ok")
    return 0 if worst >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
