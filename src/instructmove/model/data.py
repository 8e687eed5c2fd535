"""Training triplets: image loading, paired augmentation, Canny conditions and a resumable sampler.

Every random choice is derived from (seed, global sample index), so a resumed run draws the same
samples, crops and flips as an uninterrupted one.
"""

import re
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from instructmove.errors import StageError
from instructmove.model import imaging

REQUIRED_COLUMNS = ("source_path", "target_path", "instruction")

# A horizontal flip mirrors the scene, so directions in the instruction swap with it.
_MIRRORED = {
    "left": "right", "right": "left",
    "leftward": "rightward", "rightward": "leftward",
    "leftwards": "rightwards", "rightwards": "leftwards",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise",
    "anticlockwise": "clockwise", "counter-clockwise": "clockwise",
}
_MIRROR_PATTERN = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _MIRRORED), key=len, reverse=True)) + r")\b",
                             re.IGNORECASE)


def mirror_instruction(instruction: str) -> str:
    """Swap left and right (and clockwise and counterclockwise) in an instruction, keeping the case."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        mirrored = _MIRRORED[word.lower()]
        return mirrored.capitalize() if word[0].isupper() else mirrored

    return _MIRROR_PATTERN.sub(swap, instruction)


def read_table(path: Path) -> pd.DataFrame:
    """Read a triplet table and check its columns."""
    if not path.is_file():
        raise StageError(f"{path}: training table not found; run the validate stage first (instructmove validate)")
    table = pd.read_parquet(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise StageError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}")
    return table.reset_index(drop=True)


def canny_edges(image: Image.Image, low: int, high: int) -> Image.Image:
    """Return OpenCV Canny edges of an image as a white-on-black RGB image."""
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


@lru_cache(maxsize=4096)
def load_image(path: str) -> Image.Image:
    """Read an image as RGB; the frames of a small dataset stay cached in memory across epochs."""
    with Image.open(path) as image:
        return image.convert("RGB")


class TripletDataset(Dataset):
    """Map a global sample index to (source, target, instruction[, control]) tensors."""

    def __init__(self, table: pd.DataFrame, resolution: int, settings, root: Path = Path(".")):
        self.table = table
        self.resolution = resolution
        self.settings = settings
        self.root = Path(root)

    def __len__(self) -> int:
        return len(self.table)

    def row_for(self, index: int) -> int:
        """Return the table row of a global sample index: a fresh seeded permutation per pass."""
        count = len(self.table)
        epoch, position = divmod(index, count)
        order = np.random.default_rng([self.settings.seed, epoch]).permutation(count)
        return int(order[position])

    def __getitem__(self, index: int) -> dict:
        row = self.table.iloc[self.row_for(index)]
        source = load_image(str(self.root / row["source_path"]))
        target = load_image(str(self.root / row["target_path"]))
        instruction = str(row["instruction"])

        rng = np.random.default_rng([self.settings.seed, index, 1])
        scale = rng.uniform(self.settings.crop_min_scale, 1.0)
        offset = (rng.uniform(), rng.uniform())
        # The same relative crop for both frames (they share a size when they come from one video).
        source = imaging.square(source, self.resolution, box=imaging.crop_box(*source.size, scale, offset))
        target = imaging.square(target, self.resolution, box=imaging.crop_box(*target.size, scale, offset))
        if self.settings.hflip and rng.uniform() < 0.5:
            source = source.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            target = target.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            instruction = mirror_instruction(instruction)

        item = {
            "source": imaging.to_tensor(source),
            "target": imaging.to_tensor(target),
            "instruction": instruction,
            "index": index,
        }
        if self.settings.controlnet:
            edges = canny_edges(target, self.settings.canny_low, self.settings.canny_high)
            item["control"] = imaging.to_unit_tensor(edges)
        return item


class ResumableSampler(Sampler[int]):
    """Yield `length` global sample indices from `start` on.

    The data position is `start`, so a run resumed at optimiser step s passes
    s * batch_size * accumulation here and continues with the next unseen sample. The length
    stays the whole run's length: Lightning restores how many batches of the epoch were done and
    would otherwise end the epoch early and restart this sampler.
    """

    def __init__(self, start: int, length: int):
        self.start = start
        self.length = length

    def __iter__(self):
        return iter(range(self.start, self.start + self.length))

    def __len__(self) -> int:
        return self.length
