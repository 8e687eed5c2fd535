"""The Dask executor on a two-process LocalCluster gives the same pairs as the local process pool."""

import dask
import pandas as pd
import pytest
from distributed import LocalCluster

from helpers_video import make_params, motion_clip, static_clip
from instructmove import layout
from instructmove.pairs import stage
from instructmove.video import ingest


@pytest.fixture(scope="module")
def cluster():
    # Non-daemonic workers may start the isolated decoding child process.
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster
    cluster.close()


def _pairs(params, root) -> tuple[pd.DataFrame, dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        table, _ = ingest.build_table(params.ingest)
        layout.VIDEOS_TABLE.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(layout.VIDEOS_TABLE, index=False)
        videos = stage.read_videos()
        results, failures, fresh = stage.mine_all(videos, params.pairs)
        pairs = stage.write_pairs(videos, results, stage.cache.settings_key(params.pairs.mining_values()))
        return pairs, stage.funnel(videos, results, failures, fresh)


def test_dask_matches_local(cluster, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for seed in range(3):
        motion_clip(folder / f"moving_{seed}.mp4", seed=seed)
    static_clip(folder / "still.mp4", seed=9)
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()

    local, local_funnel = _pairs(make_params(tmp_path, folder, executor="local"), tmp_path / "local")
    remote, remote_funnel = _pairs(
        make_params(tmp_path, folder, executor="dask", dask_address=cluster.scheduler_address), tmp_path / "dask"
    )

    assert len(local) > 0
    assert remote_funnel["videos_mined"] == 4
    pd.testing.assert_frame_equal(local, remote)
    assert local_funnel["rejects"] == remote_funnel["rejects"]
