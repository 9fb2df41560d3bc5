"""The cost of recording runs: per-node overhead of an engine with a store, on the chain workload.

    uv run python bench/recording.py                      # memory, SQLite and a throwaway PostgreSQL server
    uv run python bench/recording.py --no-postgres        # memory and SQLite only
    uv run python bench/recording.py --postgres-url URL   # an existing PostgreSQL database instead

For each store and durability (``transition``: each node's completion committed before its successor starts;
``batched``), the chain of N = 1,000 ``bench-pass`` nodes runs REPEATS times after a warm-up, each run
recorded whole (run row, 1,002 node records, ~2,000 ledger events). Printed: the median us/node, and the
**overhead**: the median, over the repeats, of a recorded run minus a run of the same chain on an engine
without a store made just before it (alternating, so that the machine's drift falls on both sides).
Targets: <= 150 us/node with a commit per transition on SQLite, <= 30 us/node batched.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import workflows
from workflows import PassExecutor

import flowloom
from flowloom.ir import RunStore, Status
from flowloom.stores import MemoryStore, SqlStore

N = 1_000
QUICK_N = 100
REPEATS = 7
TARGETS_US = {("sqlite", "transition"): 150.0, ("sqlite", "batched"): 30.0}
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"


class _Chain:
    """The chain workload on one engine (with ``store``, or none), loaded once."""

    def __init__(self, store: RunStore | None, durability: str, n: int) -> None:
        self.store, self.n = store, n
        self.engine = flowloom.Engine(store=store, durability=durability)
        self.engine.register_executor(PassExecutor())
        self.compiled = self.engine.load(workflows.chain(n))

    async def us_per_node(self) -> float:
        """One checked run: its wall time per node."""
        gc.collect()
        began = time.perf_counter()
        run = await self.engine.run(self.compiled, {"x": 1})
        elapsed = time.perf_counter() - began
        if run.status is not Status.SUCCEEDED:
            raise SystemExit(f"FAIL: run {run.status}: {run.error}")
        if self.store is not None and len(await self.store.get_nodes(run.id)) != self.n + 2:
            raise SystemExit("FAIL: not every node was recorded")
        return elapsed / (self.n + 2) * 1e6


async def _overhead_us(store: RunStore, durability: str, n: int, repeats: int) -> tuple[float, float]:
    """(median us/node recorded, median overhead): runs with and without the store alternate, and each
    overhead is a recorded run minus the bare run just before it, so a drift of the machine's speed during
    the measurement (common on shared VMs) does not land on one side only."""
    bare, recorded = _Chain(None, durability, n), _Chain(store, durability, n)
    await bare.us_per_node()  # warm-ups
    await recorded.us_per_node()
    samples, overheads = [], []
    for _ in range(repeats):
        without = await bare.us_per_node()
        with_store = await recorded.us_per_node()
        samples.append(with_store)
        overheads.append(with_store - without)
    return statistics.median(samples), statistics.median(overheads)


async def measure(
    stores: list[tuple[str, Callable[[], RunStore]]], n: int = N, repeats: int = REPEATS
) -> list[str]:
    """The result lines (also printed as they come). Each store is made when its turn comes and dropped
    after it: what one store keeps in memory (a MemoryStore keeps every run) would otherwise slow the
    garbage collector, and so the engine, while the next one is measured."""
    lines = [f"recording: chain N = {n:,}, median of {repeats}; us/node (overhead = minus no store)"]
    print(lines[0])
    header = f"{'store':<12}{'durability':<12}{'us/node':>9}{'overhead':>10}{'target':>8}  verdict"
    lines.append(header)
    print(header)
    for name, make_store in stores:
        async with make_store() as store:
            for durability in ("transition", "batched"):
                recorded, overhead = await _overhead_us(store, durability, n, repeats)
                target = TARGETS_US.get((name, durability))
                verdict = "-" if target is None else ("ok" if overhead <= target else "MISS")
                line = (
                    f"{name:<12}{durability:<12}{recorded:>9.1f}{overhead:>10.1f}"
                    f"{'-' if target is None else f'{target:.0f}':>8}  {verdict}"
                )
                lines.append(line)
                print(line, flush=True)
    return lines


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (scripts/postgres.sh) for the duration of the block."""
    directory = Path(tempfile.mkdtemp(prefix="flowloom-bench-pg-"))
    directory.rmdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(directory), str(port)], capture_output=True, text=True
    )
    if started.returncode != 0:
        raise SystemExit(f"cannot start PostgreSQL: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", help="an existing PostgreSQL database (its tables are created)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="smoke mode: N = 100, 2 repeats")
    args = parser.parse_args(argv)
    n, repeats = (QUICK_N, 2) if args.quick else (N, REPEATS)
    with tempfile.TemporaryDirectory(prefix="flowloom-bench-") as scratch:
        stores: list[tuple[str, Callable[[], RunStore]]] = [
            ("memory", MemoryStore),
            ("sqlite", partial(SqlStore, f"sqlite:///{scratch}/bench.db")),
        ]
        if args.postgres_url:
            stores.append(("postgresql", partial(SqlStore, args.postgres_url)))
        if args.no_postgres or args.postgres_url:
            asyncio.run(measure(stores, n, repeats))
        else:
            with postgres_server() as url:
                stores.append(("postgresql", partial(SqlStore, url)))
                asyncio.run(measure(stores, n, repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
