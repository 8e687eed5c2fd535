"""Export the accepted triplets for other tools.

    instructmove export --format ip2p --out data/export        # Parquet, InstructPix2Pix layout
    instructmove export --format webdataset --out data/export  # tar shards for streaming

`ip2p` writes `train-00000-of-00001.parquet` and `eval-00000-of-00001.parquet` with the columns
`original_image`, `edit_prompt`, `edited_image` (the layout diffusers' InstructPix2Pix training
example reads) plus `pair_id`. Images are the frame files' bytes, stored as Hugging Face `Image`
features, so `datasets.load_dataset("parquet", data_dir=OUT)` decodes them; `datasets` names the
`eval` files the "test" split. `webdataset` writes `OUT/<split>-000000.tar`, ... with
`source.jpg`, `target.jpg`, `txt` (the instruction) and `json` (ids, captions, flow statistics)
per sample.
"""

import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from instructmove import layout
from instructmove.errors import StageError
from instructmove.validate.split import EVAL, TRAIN

log = logging.getLogger(__name__)

FORMATS = ("ip2p", "webdataset")
ROWS_PER_GROUP = 256

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
IP2P_SCHEMA = pa.schema(
    [("original_image", _IMAGE), ("edit_prompt", pa.string()), ("edited_image", _IMAGE), ("pair_id", pa.string())],
    metadata={"huggingface": json.dumps({"info": {"features": {
        "original_image": {"_type": "Image"},
        "edit_prompt": {"dtype": "string", "_type": "Value"},
        "edited_image": {"_type": "Image"},
        "pair_id": {"dtype": "string", "_type": "Value"},
    }}})},
)

# Columns copied into each WebDataset sample's json, when the table has them.
SAMPLE_FIELDS = ("pair_id", "video_id", "t_source", "t_target", "caption_before", "caption_after",
                 "edit_type", "subject", "flow_mean", "camera_tx", "camera_ty", "camera_zoom", "split")


def read_splits() -> dict[str, pd.DataFrame]:
    splits = {}
    for name, path in ((TRAIN, layout.TRAIN_TABLE), (EVAL, layout.EVAL_TABLE)):
        if not path.is_file():
            raise StageError(f"{path}: file not found. Run `instructmove validate` (or `dvc repro -s validate`) first.")
        splits[name] = pd.read_parquet(path)
    return splits


def _image(path: str, root: Path) -> dict:
    file = root / path
    if not file.is_file():
        raise StageError(f"{file}: frame file not found. Rerun `instructmove pairs` and `instructmove validate`.")
    return {"bytes": file.read_bytes(), "path": Path(path).name}


def write_ip2p(table: pd.DataFrame, path: Path, root: Path) -> int:
    """Write one split as InstructPix2Pix Parquet, one row group at a time; return the row count."""
    with pq.ParquetWriter(path, IP2P_SCHEMA) as writer:
        for start in tqdm(range(0, len(table), ROWS_PER_GROUP), desc=path.name, disable=len(table) < 1000):
            chunk = table.iloc[start:start + ROWS_PER_GROUP]
            writer.write_table(pa.Table.from_pydict({
                "original_image": [_image(frame, root) for frame in chunk["source_path"]],
                "edit_prompt": chunk["instruction"].astype(str).tolist(),
                "edited_image": [_image(frame, root) for frame in chunk["target_path"]],
                "pair_id": chunk["pair_id"].astype(str).tolist(),
            }, schema=IP2P_SCHEMA))
        if table.empty:
            writer.write_table(IP2P_SCHEMA.empty_table())
    return len(table)


def sample_key(pair_id: str) -> str:
    """WebDataset splits file names at the first dot, so the key must contain none."""
    return pair_id.replace(".", "_").replace("/", "_")


def _sample_metadata(row: pd.Series) -> dict:
    metadata = {}
    for name in SAMPLE_FIELDS:
        if name in row.index:
            value = row[name]
            metadata[name] = value.item() if hasattr(value, "item") else value
    return metadata


def write_webdataset(table: pd.DataFrame, folder: Path, split: str, shard_size: int, root: Path) -> int:
    """Write one split as tar shards `<split>-000000.tar`, ...; return the number of shards."""
    import webdataset

    if table.empty:
        return 0
    pattern = str(folder / f"{split}-%06d.tar")
    with webdataset.ShardWriter(pattern, maxcount=shard_size, verbose=0) as sink:
        for _, row in tqdm(table.iterrows(), total=len(table), desc=split, disable=len(table) < 1000):
            sink.write({
                "__key__": sample_key(row["pair_id"]),
                "source.jpg": _image(row["source_path"], root)["bytes"],
                "target.jpg": _image(row["target_path"], root)["bytes"],
                "txt": row["instruction"],
                "json": _sample_metadata(row),
            })
    return -(-len(table) // shard_size)


def run(params, export_format: str, out: str | Path, root: Path | str = ".") -> Path:
    """Export train and eval splits to `out` in `export_format`; return the output folder."""
    if export_format not in FORMATS:
        raise StageError(f"export format {export_format!r} is not supported; use one of {', '.join(FORMATS)}.")
    root = Path(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits = read_splits()

    for split, table in splits.items():
        if export_format == "ip2p":
            path = out / f"{split}-00000-of-00001.parquet"
            rows = write_ip2p(table, path, root)
            log.info("wrote %d triplets to %s", rows, path)
        else:
            shards = write_webdataset(table, out, split, params.validate_.shard_size, root)
            log.info("wrote %d triplets of the %s split in %d shard(s) to %s", len(table), split, shards, out)
    return out
