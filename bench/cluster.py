"""Node work on a Dask cluster (``DaskWorkers``), on ``distributed.LocalCluster``s of worker processes.

* scale-out: a workflow of 8 CPU-bound Python code nodes (about 0.5 s each) in parallel, on a cluster of
  2 workers against 1 worker (1 thread each); issue 19's target: >= 1.8x faster on a 2-core machine;
* overhead: a trivial Pipeline sync task on Dask (a chain of them, per task) against Dask's own
  ``client.submit(fn).result()`` round trip of the same function; target <= 1.5x;
* for scale: the same trivial task on local threads (``ThreadWorkers``).

    uv run python bench/cluster.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import pipelines
from distributed import Client, LocalCluster

import flowloom
from flowloom.workers import DaskWorkers

NODES = 8
NODE_S = 0.5
CHAIN = 50
REPEATS = 3
SPEEDUP_TARGET = 1.8
OVERHEAD_TARGET = 1.5
_LOOP = (
    "def main(args):\n"
    "    total = 0\n"
    "    for i in range(args['params']['n']):\n"
    "        total = total + i % 7\n"
    "    return {'y': total}\n"
)
_META = {"position": {"x": 0, "y": 0}}


def cpu_workflow(nodes: int) -> dict[str, Any]:
    """start(n) -> nodes Python code nodes (a loop of n steps each), in parallel -> end(sum of nothing)."""
    number = {"type": "object", "properties": {"n": {"type": "number"}}}
    workflow_nodes: list[dict[str, Any]] = [
        {"id": "start_0", "type": "start", "meta": _META, "data": {"outputs": number}},
        {"id": "end_0", "type": "end", "meta": _META, "data": {}},
    ]
    edges = []
    for i in range(nodes):
        workflow_nodes.append(
            {
                "id": f"cpu_{i}",
                "type": "code",
                "meta": _META,
                "data": {
                    "inputs": number,
                    "inputsValues": {"n": {"type": "ref", "content": ["start_0", "n"]}},
                    "outputs": {"type": "object", "properties": {"y": {"type": "number"}}},
                    "script": {"language": "python", "content": _LOOP},
                },
            }
        )
        edges += [
            {"sourceNodeID": "start_0", "targetNodeID": f"cpu_{i}"},
            {"sourceNodeID": f"cpu_{i}", "targetNodeID": "end_0"},
        ]
    return {"nodes": workflow_nodes, "edges": edges}


async def timed_run(engine: flowloom.Engine, workflow: dict[str, Any], n: int) -> float:
    started = time.perf_counter()
    run = await engine.run(workflow, {"n": n})
    elapsed = time.perf_counter() - started
    if run.status != flowloom.Status.SUCCEEDED:
        raise RuntimeError(f"the run failed: {run.error}")
    return elapsed


async def calibrate(engine: flowloom.Engine, node_s: float) -> int:
    """Loop steps for one code node to take about ``node_s`` on a worker."""
    n = 200_000
    one = cpu_workflow(1)
    await timed_run(engine, one, 1000)  # warm the worker's sandbox
    elapsed = await timed_run(engine, one, n)
    return max(1000, int(n * node_s / elapsed))


def cluster(workers: int) -> LocalCluster:
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        worker_dashboard_address=":0",
    )


async def scale_out(nodes: int, node_s: float, repeats: int) -> tuple[float, float]:
    """Median seconds of the parallel workflow on 1 worker and on 2 workers, the two measured in turn (the
    machine's drift weighs on both alike)."""
    workflow = cpu_workflow(nodes)
    with (
        cluster(1) as one_cluster,
        Client(one_cluster, set_as_default=False) as one_client,
        cluster(2) as two_cluster,
        Client(two_cluster, set_as_default=False) as two_client,
    ):
        async with (
            DaskWorkers(one_client) as one_workers,
            DaskWorkers(two_client) as two_workers,
            flowloom.Engine(workers=one_workers) as one,
            flowloom.Engine(workers=two_workers) as two,
        ):
            steps = await calibrate(one, node_s)
            for engine in (one, two):  # every worker's sandbox warm before timing
                await timed_run(engine, cpu_workflow(nodes), 1000)
            times: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(repeats):
                times[1].append(await timed_run(one, workflow, steps))
                times[2].append(await timed_run(two, workflow, steps))
    return statistics.median(times[1]), statistics.median(times[2])


def _one() -> int:
    return 1


async def overhead(chain: int, repeats: int) -> tuple[float, float, float]:
    """Microseconds per trivial task: a Pipeline sync chain on Dask, ``client.submit(...).result()``, and
    the same chain on local threads."""
    with cluster(2) as local, Client(local, set_as_default=False) as client:
        client.submit(_one, pure=False).result()
        submits = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(chain):
                client.submit(_one, pure=False).result()
            submits.append((time.perf_counter() - started) / chain * 1e6)
        async with DaskWorkers(client) as dask:
            on_dask = await _chain_us(chain, repeats, dask)
    on_threads = await _chain_us(chain, repeats, None)
    return on_dask, statistics.median(submits), on_threads


async def _chain_us(chain: int, repeats: int, workers: DaskWorkers | None) -> float:
    executed: list[None] = []
    pipeline = pipelines.chain(chain, True, executed, workers)
    per_task = []
    async with pipeline:
        await pipeline.run_once()  # warm-up
        for _ in range(repeats):
            started = time.perf_counter()
            run_id = await pipeline.run_once()
            per_task.append((time.perf_counter() - started) / chain * 1e6)
            if pipeline.get_run_report(run_id)["status"] != "SUCCESS":
                raise RuntimeError("the pipeline run failed")
    return statistics.median(per_task)


def report(quick: bool) -> bool:
    """Print the Dask figures; False if a run failed."""
    nodes, node_s, chain, repeats = (4, 0.1, 10, 1) if quick else (NODES, NODE_S, CHAIN, REPEATS)
    try:
        one, two = asyncio.run(scale_out(nodes, node_s, repeats))
        dask_us, submit_us, threads_us = asyncio.run(overhead(chain, repeats))
    except Exception as exc:
        print(f"dask: FAIL  {type(exc).__name__}: {exc}\n")
        return False
    speedup = one / two
    ratio = dask_us / submit_us
    print(f"dask (LocalCluster of worker processes, 1 thread each; median of {repeats}):")
    print(
        f"  dask scale-out: {nodes} Python code nodes of ~{node_s:g} s: 1 worker {one:.2f} s, 2 workers "
        f"{two:.2f} s: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x: {_met(speedup >= SPEEDUP_TARGET)})"
    )
    print(
        f"  dask overhead: a trivial sync task {dask_us:.0f} us on Dask vs client.submit().result() "
        f"{submit_us:.0f} us: {ratio:.2f}x (target <= {OVERHEAD_TARGET}x: {_met(ratio <= OVERHEAD_TARGET)}); "
        f"on local threads {threads_us:.0f} us"
    )
    print()
    return True


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: small work, one repeat")
    return 0 if report(parser.parse_args().quick) else 1


if __name__ == "__main__":
    raise SystemExit(main())
