"""Training data: paired augmentation, mirrored instructions, Canny conditions and the resumable order."""

import shutil
from pathlib import Path

import numpy as np
import torch
from helpers_model import tiny_params, write_dataset

from instructmove.model import imaging
from instructmove.model.data import ResumableSampler, TripletDataset, canny_edges, mirror_instruction, read_table


def test_mirror_instruction_swaps_directions():
    assert mirror_instruction("Turn the camera to the left") == "Turn the camera to the right"
    assert mirror_instruction("Left arm up, right arm down") == "Right arm up, left arm down"
    assert mirror_instruction("Rotate the cup clockwise") == "Rotate the cup counterclockwise"
    assert mirror_instruction("Raise the leftmost flag") == "Raise the leftmost flag"


def dataset(root: Path, **train) -> TripletDataset:
    params = tiny_params(root, train=train)
    table = read_table(root / "data" / "dataset" / "train.parquet")
    return TripletDataset(table, 16, params.train, root=root)


def test_flip_applies_to_both_frames_and_instruction(tmp_path):
    write_dataset(tmp_path, count=8)
    plain = dataset(tmp_path, hflip=False, crop_min_scale=1.0)
    flipping = dataset(tmp_path, hflip=True, crop_min_scale=1.0)

    flipped_seen = 0
    for index in range(16):
        reference, item = plain[index], flipping[index]
        if item["instruction"] == reference["instruction"]:
            assert torch.equal(item["source"], reference["source"])
            assert torch.equal(item["target"], reference["target"])
            continue
        flipped_seen += 1
        assert item["instruction"] == mirror_instruction(reference["instruction"])
        assert torch.equal(item["source"], reference["source"].flip(-1))
        assert torch.equal(item["target"], reference["target"].flip(-1))
    assert 0 < flipped_seen < 16


def test_crop_is_shared_by_source_and_target(tmp_path):
    write_dataset(tmp_path, count=4)
    frames = tmp_path / "data" / "pairs" / "frames"
    shutil.copyfile(frames / "p0_source.jpg", frames / "p0_target.jpg")
    item_dataset = dataset(tmp_path, hflip=True, crop_min_scale=0.5)
    row = item_dataset.table.index[item_dataset.table.pair_id == "p0"][0]

    index = next(i for i in range(64) if item_dataset.row_for(i) == row)
    item = item_dataset[index]
    assert torch.equal(item["source"], item["target"])


def test_controlnet_condition_is_target_edges(tmp_path):
    write_dataset(tmp_path, count=4)
    item = dataset(tmp_path, controlnet=True, hflip=False, crop_min_scale=1.0)[0]
    control = item["control"]
    assert control.shape == (3, 16, 16)
    assert set(torch.unique(control).tolist()) <= {0.0, 1.0}
    assert control.sum() > 0
    target = imaging.to_pil(item["target"])
    expected = imaging.to_unit_tensor(canny_edges(target, 100, 200))
    assert torch.equal(control, expected)


def test_sample_order_is_seeded_and_resumable(tmp_path):
    write_dataset(tmp_path, count=8)
    data = dataset(tmp_path)
    full = [data.row_for(index) for index in ResumableSampler(0, 24)]
    resumed = [data.row_for(index) for index in ResumableSampler(10, 14)]
    assert resumed == full[10:]
    assert sorted(full[:len(data)]) == list(range(len(data)))
    assert full[: len(data)] != full[len(data) : 2 * len(data)]
    assert np.array_equal(data[13]["source"].numpy(), data[13]["source"].numpy())
