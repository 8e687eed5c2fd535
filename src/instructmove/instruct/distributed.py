"""Write instructions on a Dask cluster (`instruct.executor: dask`).

The pairs are split into chunks and every chunk runs the same backend code as a local run, on
a Dask worker: `instruct.dask_address`, or a LocalCluster of `instruct.dask_workers` processes
started for the run. Results do not depend on the chunking, because both backends treat each pair
on its own. Workers must import the installed package and read the frames at the same paths. With
`backend: openai` they share the response cache in `instruct.cache_dir`, so on several machines
that folder must be on shared storage.
"""

import logging
from collections import Counter

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNKS_PER_WORKER = 4


def write_chunk(records: list[dict], settings) -> tuple[dict[str, dict], dict]:
    """Write the results of one chunk of pairs with the configured backend, as a local run does."""
    from instructmove.instruct import flow_writer

    if settings.backend == "flow":
        return flow_writer.write_all(records, settings.flow, settings.seed), {}

    from instructmove.instruct.mllm_backend import instruct_pairs

    return instruct_pairs(records, settings)


def write_on_dask(records: list[dict], settings) -> tuple[dict[str, dict], dict]:
    """Spread the pairs over the Dask workers; return the merged result rows and run counters."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if settings.dask_address:
        client = Client(settings.dask_address)
    else:
        cluster = LocalCluster(n_workers=settings.dask_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    log.info("instruct: %d pairs on Dask scheduler %s", len(records), client.scheduler.address)

    try:
        workers = max(1, len(client.scheduler_info()["workers"]))
        size = max(1, -(-len(records) // (workers * CHUNKS_PER_WORKER)))
        chunks = [records[start:start + size] for start in range(0, len(records), size)]
        futures = [client.submit(write_chunk, chunk, settings, pure=False) for chunk in chunks]

        results: dict[str, dict] = {}
        stats: Counter = Counter()
        for future in tqdm(as_completed(futures), total=len(futures), desc="instruct on Dask", unit="chunk",
                           disable=None):
            rows, counters = future.result()
            results.update(rows)
            stats.update(counters)
        return results, dict(stats)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
