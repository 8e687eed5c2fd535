"""Write the evaluation split in the benchmark format that the evaluate stage reads.

One JSON object per line: `pair_id`, `video_id`, `source`, `target`, `instruction`,
`caption_before`, `caption_after` (null when the instruct stage wrote none). The frames are copied next to the file, under `images/`,
and `source` and `target` are relative to the JSONL file, so the folder can be moved or shared
as it is.
"""

import json
import shutil
from pathlib import Path

import pandas as pd

IMAGES = "images"
BENCHMARK_FILE = "benchmark.jsonl"


def _copy_frame(frame: str, folder: Path, name: str, root: Path) -> str:
    suffix = Path(frame).suffix or ".jpg"
    relative = f"{IMAGES}/{name}{suffix}"
    shutil.copyfile(root / frame, folder / relative)
    return relative


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def write_benchmark(eval_table: pd.DataFrame, folder: Path, root: Path | str = ".") -> Path:
    """Write `folder/benchmark.jsonl` and its frames; return the JSONL path."""
    root = Path(root)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / IMAGES).mkdir(parents=True)

    path = folder / BENCHMARK_FILE
    with path.open("w") as handle:
        for row in eval_table.sort_values("pair_id").itertuples(index=False):
            record = {
                "pair_id": row.pair_id,
                "video_id": row.video_id,
                "source": _copy_frame(row.source_path, folder, f"{row.pair_id}_source", root),
                "target": _copy_frame(row.target_path, folder, f"{row.pair_id}_target", root),
                "instruction": row.instruction,
                "caption_before": _text(row.caption_before),
                "caption_after": _text(row.caption_after),
            }
            handle.write(json.dumps(record) + "\n")
    return path


def read_benchmark(path: Path | str) -> list[dict]:
    """Read a benchmark JSONL and make its image paths absolute."""
    path = Path(path)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for record in records:
        record["source"] = str((path.parent / record["source"]).resolve())
        record["target"] = str((path.parent / record["target"]).resolve())
    return records
