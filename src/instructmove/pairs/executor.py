"""Run mining jobs on this machine's process pool or on a Dask cluster.

`pairs.executor: local` runs each video in an isolated child process, `pairs.workers` at a time.
`pairs.executor: dask` sends each video to a Dask worker (`pairs.dask_address`, or a LocalCluster
of `pairs.workers` processes started for the run), where it is again decoded in an isolated child.
Workers read the video path from videos.parquet, so on a remote cluster the videos must sit on
storage the workers can read at the same path.
"""

import logging
import multiprocessing
from collections.abc import Callable, Iterator

import dask
from tqdm import tqdm

from instructmove.video.isolation import CRASH, Job, Outcome, run_isolated
from instructmove.video.reader import VideoDecodeError

log = logging.getLogger(__name__)


def run_one(function: Callable, job: Job) -> Outcome:
    """Run one job in an isolated child process of the current (Dask worker) process.

    Daemonic processes cannot start children, and Dask starts its workers as daemons unless
    `distributed.worker.daemon` is false. On a daemonic worker the job runs in the worker itself,
    without the timeout, so a crash kills the Dask worker (Dask restarts it).
    """
    if multiprocessing.current_process().daemon:
        log.warning("%s: Dask worker is daemonic; decoding without isolation. "
                    "Set DASK_DISTRIBUTED__WORKER__DAEMON=False on the workers to isolate it.", job.key)
        try:
            return Outcome(job.key, value=function(*job.args))
        except VideoDecodeError as error:
            return Outcome(job.key, reason=error.reason, message=error.message)
    return next(run_isolated(function, [job], workers=1, desc=job.key))


def _run_dask(function: Callable, jobs: list[Job], settings) -> Iterator[Outcome]:
    from distributed import Client, LocalCluster, as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    cluster = None
    if settings.dask_address:
        client = Client(settings.dask_address)
    else:
        with dask.config.set({"distributed.worker.daemon": False}):
            cluster = LocalCluster(n_workers=settings.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    log.info("mining on Dask scheduler %s", client.scheduler.address)

    try:
        futures = {client.submit(run_one, function, job, key=f"mine-{job.key}", pure=False): job for job in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="mining pairs", unit="video", disable=None):
            job = futures[future]
            try:
                yield future.result()
            except (KilledWorker, FutureCancelledError) as error:
                yield Outcome(job.key, reason=CRASH, message=f"Dask worker died: {error}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_jobs(function: Callable, jobs: list[Job], settings) -> Iterator[Outcome]:
    """Yield one Outcome per job, in completion order, on the configured executor."""
    if not jobs:
        return
    # Longest videos (largest time limit) first, so no worker is left with a long one at the end.
    jobs = sorted(jobs, key=lambda job: -job.timeout_s)
    if settings.executor == "dask":
        yield from _run_dask(function, jobs, settings)
    else:
        yield from run_isolated(function, jobs, settings.workers, desc="mining pairs")
