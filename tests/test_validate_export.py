"""`instructmove export`: InstructPix2Pix Parquet and WebDataset shards of the accepted triplets."""

import io
import json
import tarfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from helpers_validate import good_rows, write_triplets
from instructmove import cli, layout
from instructmove.config import parse_params
from instructmove.errors import StageError
from instructmove.validate import export, stage


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """A repository folder after a real validate run on three videos."""
    root = tmp_path_factory.mktemp("export")
    rows = good_rows(root, videos=3, pairs_per_video=2)
    rows[0]["pair_id"] = "video00_0.5_1.5"
    write_triplets(root, rows)
    params = parse_params({"validate": {"shard_size": 2}})
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        stage.write_outputs(stage.validate_triplets(pd.read_parquet(layout.TRIPLETS_TABLE), params))
    return root, params


def _frame(root, path) -> np.ndarray:
    return np.asarray(Image.open(root / path).convert("RGB"))


def test_ip2p_loads_with_datasets(validated, monkeypatch):
    import datasets

    root, params = validated
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(root / "hf_cache"))
    out = export.run(params, "ip2p", root / "ip2p")
    train = pd.read_parquet(layout.TRAIN_TABLE).set_index("pair_id")

    loaded = datasets.load_dataset("parquet", data_dir=str(out))

    assert set(loaded) == {"train", "test"}
    assert loaded["train"].column_names == ["original_image", "edit_prompt", "edited_image", "pair_id"]
    assert loaded["train"].num_rows == len(train)
    for example in loaded["train"]:
        row = train.loc[example["pair_id"]]
        assert example["edit_prompt"] == row["instruction"]
        assert np.array_equal(np.asarray(example["original_image"].convert("RGB")), _frame(root, row["source_path"]))
        assert np.array_equal(np.asarray(example["edited_image"].convert("RGB")), _frame(root, row["target_path"]))


def test_ip2p_round_trips_bytes_with_pyarrow(validated, monkeypatch):
    root, params = validated
    monkeypatch.chdir(root)
    out = export.run(params, "ip2p", root / "ip2p_arrow")
    evaluation = pd.read_parquet(layout.EVAL_TABLE).set_index("pair_id")

    table = pq.read_table(out / "eval-00000-of-00001.parquet").to_pylist()

    assert len(table) == len(evaluation) > 0
    for record in table:
        row = evaluation.loc[record["pair_id"]]
        assert record["original_image"]["bytes"] == (root / row["source_path"]).read_bytes()
        assert record["edited_image"]["bytes"] == (root / row["target_path"]).read_bytes()


def test_webdataset_shards_hold_every_sample(validated, monkeypatch):
    root, params = validated
    monkeypatch.chdir(root)
    out = export.run(params, "webdataset", root / "wds")
    train = pd.read_parquet(layout.TRAIN_TABLE).set_index("pair_id")

    shards = sorted(out.glob("train-*.tar"))
    samples = {}
    for shard in shards:
        with tarfile.open(shard) as archive:
            for member in archive.getmembers():
                key, _, extension = member.name.partition(".")
                samples.setdefault(key, {})[extension] = archive.extractfile(member).read()

    assert len(shards) == -(-len(train) // 2)
    assert len(samples) == len(train)
    for sample in samples.values():
        metadata = json.loads(sample["json"])
        row = train.loc[metadata["pair_id"]]
        assert sample["txt"].decode() == row["instruction"]
        assert sample["source.jpg"] == (root / row["source_path"]).read_bytes()
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(sample["target.jpg"])).convert("RGB")),
                              _frame(root, row["target_path"]))


def test_webdataset_key_has_no_dots():
    assert export.sample_key("video00_0.5_1.5") == "video00_0_5_1_5"


def test_export_cli_without_validate_fails_readably(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("validate: {}\n")

    code = cli.main(["export", "--format", "ip2p", "--out", str(tmp_path / "out")])

    assert code == 1
    assert "data/dataset/train.parquet: file not found. Run `instructmove validate`" in caplog.text


def test_export_rejects_unknown_format(validated):
    _, params = validated

    with pytest.raises(StageError, match="export format 'tfrecord' is not supported"):
        export.run(params, "tfrecord", "unused")
