"""Speed tricks audited, threads: is ``ThreadWorkers``' own thread pool worth keeping?

``ThreadWorkers`` runs calls on a small pool of its own (a queue of jobs, one ``call_soon_threadsafe`` per
result) rather than on ``concurrent.futures.ThreadPoolExecutor``. DESIGN keeps such a trick only where it
buys >= 20 % of a headline figure. This measures the pipeline sync chain and sync fan-out (the headline
figures that go through threads) with three ``Workers`` injected into the same pipelines, interleaved in one
run so that the machine's drift weighs on all of them alike:

* ``own pool``: ``ThreadWorkers(max_workers=8)``, the default;
* ``ThreadPoolExecutor``: ``ThreadWorkers(executor=ThreadPoolExecutor(8))``, i.e. ``loop.run_in_executor``;
* ``anyio.to_thread``: ``anyio.to_thread.run_sync`` under a ``CapacityLimiter(8)``.

    uv run python bench/threads.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import pipelines

from flowloom import Pipeline, ThreadWorkers
from flowloom.ir import CodeLanguage, CodeLimits, Workers, WorkKey

T = TypeVar("T")
N = 1_000
ROUNDS = 7  # each round measures every (workload, variant) once, in turn
REPEATS = 5  # timed runs per measurement (after one warm-up); its median counts
MAX_WORKERS = 8  # the Pipeline default


class AnyioThreads:
    """``Workers`` on ``anyio.to_thread.run_sync``: anyio's threads, ``max_workers`` at once."""

    def __init__(self, max_workers: int) -> None:
        self._limiter = anyio.CapacityLimiter(max_workers)

    async def call(self, fn: Callable[..., T], /, *args: Any, key: WorkKey | None = None) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)

    async def run(
        self,
        language: CodeLanguage,
        source: str,
        params: Mapping[str, Any],
        limits: CodeLimits,
        *,
        key: WorkKey | None = None,
    ) -> Any:
        raise NotImplementedError("pipelines run no code")

    async def aclose(self) -> None:
        pass


def own_pool() -> Workers:
    return ThreadWorkers(max_workers=MAX_WORKERS, name="bench-own")


class ExecutorThreads(ThreadWorkers):
    """``ThreadWorkers`` on a ``ThreadPoolExecutor`` of their own (``loop.run_in_executor``)."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="bench-tpe")
        super().__init__(executor=self._pool)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False)


VARIANTS: dict[str, Callable[[], Workers]] = {
    "own pool": own_pool,
    "ThreadPoolExecutor": partial(ExecutorThreads, MAX_WORKERS),
    "anyio.to_thread": partial(AnyioThreads, MAX_WORKERS),
}
Build = Callable[[int, bool, list[None], Workers], Pipeline]
WORKLOADS: dict[str, tuple[Build, Callable[[int], int]]] = {
    "pipeline sync chain": (pipelines.chain, lambda n: n),
    "pipeline sync fan-out": (pipelines.fan_out, lambda n: n + 1),
}


async def us_per_task(workload: str, variant: str, n: int, repeats: int) -> float:
    """The median of ``repeats`` checked runs (after a warm-up) of one pipeline on one ``Workers``."""
    build, tasks = WORKLOADS[workload]
    executed: list[None] = []
    workers = VARIANTS[variant]()
    pipeline = build(n, True, executed, workers)
    seconds: list[float] = []
    try:
        async with pipeline:
            for attempt in range(repeats + 1):
                executed.clear()
                gc.collect()
                began = time.perf_counter()
                run_id = await pipeline.run_once()
                elapsed = time.perf_counter() - began
                status = pipeline.get_run_report(run_id)["status"]
                if status != "SUCCESS" or len(executed) != tasks(n):
                    raise RuntimeError(f"{workload} on {variant}: {status}, {len(executed)} tasks executed")
                if attempt:
                    seconds.append(elapsed)
    finally:
        await workers.aclose()
    return statistics.median(seconds) / tasks(n) * 1e6


async def measure(n: int, rounds: int, repeats: int) -> dict[tuple[str, str], list[float]]:
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for workload in WORKLOADS:
            for variant in VARIANTS:
                value = await us_per_task(workload, variant, n, repeats)
                results.setdefault((workload, variant), []).append(value)
    return results


def report(results: Mapping[tuple[str, str], Sequence[float]], n: int, rounds: int) -> None:
    print(
        f"speed tricks audited, threads: us/task of N = {n:,} no-op sync tasks, median over {rounds} "
        "interleaved rounds (each the median of its runs); vs = what the own pool saves, in %"
    )
    print(f"{'workload':<24}{'own pool':>10}{'TPE':>10}{'anyio':>10}{'vs TPE':>10}{'vs anyio':>10}")
    for workload in WORKLOADS:
        own, tpe, anyio_ = (statistics.median(results[workload, variant]) for variant in VARIANTS)
        print(
            f"{workload:<24}{own:>10.1f}{tpe:>10.1f}{anyio_:>10.1f}"
            f"{(1 - own / tpe) * 100:>9.0f}%{(1 - own / anyio_) * 100:>9.0f}%"
        )
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: N = 100, one round of 2 runs")
    args = parser.parse_args(argv)
    n, rounds, repeats = (100, 1, 2) if args.quick else (N, ROUNDS, REPEATS)
    report(asyncio.run(measure(n, rounds, repeats)), n, rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
