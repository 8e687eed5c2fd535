"""Mine the pairs of one video: decode the sampled frames, filter the candidates, select, encode JPEGs.

`mine_video` runs inside an isolated child process (local executor) or a Dask worker, and returns
plain data: the kept rows, the JPEG bytes of their frames, the funnel and the time per step.
Frames are decoded in time order in small batches, and frames no later candidate needs are
dropped, so memory stays bounded on long videos.
"""

import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import asdict

import cv2
import numpy as np

from instructmove.pairs.candidates import Candidate, sample_candidates
from instructmove.pairs.flow import create_flow, flow_statistics, mean_magnitude
from instructmove.pairs.quality import FrameFacts, frame_facts, histogram_distance
from instructmove.pairs.select import NEAR_DUPLICATE, OVER_LIMIT, Scored, select_pairs
from instructmove.pairs.settings import PairsSettings
from instructmove.video.reader import open_scaled, scaled_size
from instructmove.video.timestamps import repair_timestamps

# Funnel reject categories, in the order the filters run.
FILTERS = (
    "resolution", "corrupt frames", "exposure", "blur", "scene cut",
    "too little motion", "too much motion", "background change", NEAR_DUPLICATE, OVER_LIMIT,
)
_BATCH = 16


def pair_id(video_id: str, t_source: float, t_target: float) -> str:
    """Return the pair id: the video id and both timestamps in milliseconds."""
    return f"{video_id}_{round(t_source * 1000):07d}_{round(t_target * 1000):07d}"


def flow_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Return (width, height) with the short side exactly `short_side` (upscaling small videos)."""
    scale = short_side / min(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


class _Timer:
    def __init__(self):
        self.seconds: Counter = Counter()

    @contextmanager
    def __call__(self, step: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - start


def _encode(rgb: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


class _Miner:
    """State of one video while its frames stream past."""

    def __init__(self, video: dict, settings: PairsSettings):
        self.video = video
        self.settings = settings
        self.timer = _Timer()
        self.funnel: Counter = Counter()
        width, height = int(video["width"]), int(video["height"])
        self.out_size = scaled_size(width, height, settings.frame_short_side)
        self.decode_size = scaled_size(width, height, max(settings.frame_short_side, settings.flow_side))
        self.flow_size = flow_size(width, height, settings.flow_side)
        self.dis = create_flow(settings.flow_preset)
        self.frames: dict[int, tuple[np.ndarray, FrameFacts] | None] = {}
        self.cut_scores: dict[int, float] = {}
        self.jpegs: dict[int, bytes] = {}
        self.passed: list[tuple[Candidate, dict, Scored]] = []
        self.previous_histogram = None
        self.decoded = 0

    def add_frame(self, index: int, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self.frames[index] = None
            return
        self.decoded += 1
        with self.timer("filters"):
            facts = frame_facts(rgb, self.flow_size)
            if self.previous_histogram is not None:
                self.cut_scores[index] = histogram_distance(self.previous_histogram, facts.histogram)
            self.previous_histogram = facts.histogram
        if (rgb.shape[1], rgb.shape[0]) != self.out_size:
            rgb = cv2.resize(rgb, self.out_size, interpolation=cv2.INTER_AREA)
        self.frames[index] = (rgb, facts)

    def _first_failure(self, candidate: Candidate) -> str | None:
        source, target = self.frames.get(candidate.source_index), self.frames.get(candidate.target_index)
        if source is None or target is None:
            return "corrupt frames"
        settings = self.settings
        brightness = (source[1].brightness, target[1].brightness)
        if min(brightness) < settings.min_brightness or max(brightness) > settings.max_brightness:
            return "exposure"
        if min(source[1].sharpness, target[1].sharpness) < settings.min_sharpness:
            return "blur"
        spanned = [score for index, score in self.cut_scores.items()
                   if candidate.source_index < index <= candidate.target_index]
        if spanned and max(spanned) > settings.scene_cut_threshold:
            return "scene cut"
        return None

    def evaluate(self, position: int, candidate: Candidate) -> None:
        with self.timer("filters"):
            failure = self._first_failure(candidate)
        if failure:
            self.funnel[failure] += 1
            return

        (source_rgb, source), (target_rgb, target) = self.frames[candidate.source_index], self.frames[candidate.target_index]
        with self.timer("flow"):
            flow = self.dis.calc(source.gray, target.gray, None)
            flow_mean = mean_magnitude(flow)
        if flow_mean < self.settings.min_flow:
            self.funnel["too little motion"] += 1
            return
        if flow_mean > self.settings.max_flow:
            self.funnel["too much motion"] += 1
            return

        with self.timer("flow"):
            stats = flow_statistics(source.gray, target.gray, flow, self.settings.moving_threshold_px)
        if stats.background_error > self.settings.max_background_error:
            self.funnel["background change"] += 1
            return

        with self.timer("write"):
            for index, rgb in ((candidate.source_index, source_rgb), (candidate.target_index, target_rgb)):
                if index not in self.jpegs:
                    self.jpegs[index] = _encode(rgb, self.settings.jpeg_quality)
        scored = Scored(position, candidate.t_source, candidate.t_target, stats.flow_mean,
                        stats.background_error, source.dhash, target.dhash)
        self.passed.append((candidate, asdict(stats), scored))

    def forget_before(self, index: int) -> None:
        for old in [key for key in self.frames if key < index]:
            del self.frames[old]


def _mine(miner: _Miner, reader, candidates: list[Candidate]) -> None:
    needed = sorted({c.source_index for c in candidates} | {c.target_index for c in candidates})
    pending = deque(enumerate(candidates))
    for start in range(0, len(needed), _BATCH):
        batch = needed[start:start + _BATCH]
        with miner.timer("decode"):
            decoded = list(reader.read(batch))
        for index, rgb in decoded:
            miner.add_frame(index, rgb)

        while pending and pending[0][1].target_index <= batch[-1]:
            miner.evaluate(*pending.popleft())
        if pending:
            miner.forget_before(pending[0][1].source_index)


def _rows(miner: _Miner, kept: list[int]) -> tuple[list[dict], dict[str, bytes]]:
    by_position = {scored.position: (candidate, stats) for candidate, stats, scored in miner.passed}
    rows, files = [], {}
    for position in kept:
        candidate, stats = by_position[position]
        identifier = pair_id(miner.video["video_id"], candidate.t_source, candidate.t_target)
        rows.append({
            "pair_id": identifier, "video_id": miner.video["video_id"],
            "t_source": round(candidate.t_source, 4), "t_target": round(candidate.t_target, 4),
            "width": miner.out_size[0], "height": miner.out_size[1], **stats,
        })
        files[f"{identifier}_source.jpg"] = miner.jpegs[candidate.source_index]
        files[f"{identifier}_target.jpg"] = miner.jpegs[candidate.target_index]
    return rows, files


def mine_video(video: dict, settings_values: dict) -> dict:
    """Mine one video described by its videos.parquet row; see the module docstring for the result."""
    cv2.setNumThreads(1)
    settings = PairsSettings.model_validate(settings_values)
    miner = _Miner(video, settings)

    with miner.timer("decode"):
        reader = open_scaled(video["path"], *miner.decode_size)
        count = min(len(reader.reader), int(video["num_frames"]))
        raw_times = reader.reader.get_frame_timestamp(list(range(count)))[:, 0]
    times = repair_timestamps(raw_times, float(video["fps"]))
    candidates = sample_candidates(times, settings, video["video_id"])

    if min(int(video["width"]), int(video["height"])) < settings.min_short_side:
        miner.funnel["resolution"] = len(candidates)
    else:
        _mine(miner, reader, candidates)

    kept, rejected = select_pairs([scored for _, _, scored in miner.passed], settings)
    miner.funnel.update(rejected.values())
    rows, files = _rows(miner, kept)
    return {
        "video_id": video["video_id"],
        "candidates": len(candidates),
        "rejects": {name: int(miner.funnel.get(name, 0)) for name in FILTERS},
        "pairs": len(rows),
        "rows": rows,
        "frames": files,
        "decoded_frames": miner.decoded,
        "seconds": dict(miner.timer.seconds),
    }
