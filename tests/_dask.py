"""A real Dask cluster for the tests: a ``distributed.LocalCluster`` of 2 worker processes (1 thread each,
under nannies that restart a killed worker), started once per session. Tests that need it import the
fixture:

    from _dask import dask_cluster  # noqa: F401  (the fixture ``dask_client``)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster

WORKERS = 2


@pytest.fixture(scope="session", name="dask_client")
def dask_cluster() -> Iterator[Client]:
    """A client of the session's cluster, with both workers up before each use (a test may kill one)."""
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # never the fixed default port (another cluster may hold it)
            worker_dashboard_address=":0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def worker_pids(client: Client) -> set[int]:
    """The PIDs of the cluster's worker processes, once ``WORKERS`` of them are up."""
    client.wait_for_workers(WORKERS, timeout=60)
    return set(client.run(os.getpid).values())


def executing(client: Client) -> int:
    """How many tasks the workers' threads are running now (a canceled task counts until its thread
    returns)."""
    counts = client.run(lambda dask_worker: len(dask_worker.state.executing))
    return sum(counts.values())
