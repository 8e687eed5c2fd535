"""Paths each stage reads and writes, relative to the repository root.

dvc.yaml declares the same paths as deps and outs; keep the two in step.
"""

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
METRICS = Path("metrics")
CACHE = Path(".cache")

# ingest
VIDEOS_TABLE = DATA / "videos.parquet"
INGEST_CACHE = CACHE / "ingest"

# pairs
PAIRS_DIR = DATA / "pairs"
PAIRS_TABLE = PAIRS_DIR / "pairs.parquet"
FRAMES_DIR = PAIRS_DIR / "frames"
PAIRS_CACHE = CACHE / "pairs"

# instruct
TRIPLETS_TABLE = DATA / "triplets.parquet"
INSTRUCT_CACHE = CACHE / "instruct"

# validate
DATASET_DIR = DATA / "dataset"
TRAIN_TABLE = DATASET_DIR / "train.parquet"
EVAL_TABLE = DATASET_DIR / "eval.parquet"
QUARANTINE_TABLE = DATASET_DIR / "quarantine.parquet"
BENCHMARK_DIR = DATASET_DIR / "benchmark"
VALIDATION_DIR = DATA / "validation"

# train
CHECKPOINT_DIR = MODELS / "checkpoints"
PIPELINE_DIR = MODELS / "pipeline"

# evaluate
EVALUATION_DIR = DATA / "evaluation"


def metrics_file(stage: str) -> Path:
    """Return the DVC metrics file of a stage."""
    return METRICS / f"{stage}.json"


def error_file(stage: str) -> Path:
    """Return where a stage's CLI writes the message of its last user-facing failure."""
    return CACHE / "errors" / f"{stage}.txt"
