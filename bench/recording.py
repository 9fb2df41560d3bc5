"""The cost of recording runs: per-node overhead of an engine with a store, on the chain workload.

    uv run python bench/recording.py                      # memory, SQLite and a throwaway PostgreSQL server
    uv run python bench/recording.py --no-postgres        # memory and SQLite only
    uv run python bench/recording.py --postgres-url URL   # an existing PostgreSQL database instead

For each store and durability (``transition``: each node's completion committed before its successor starts;
``batched``), the chain of N = 1,000 ``bench-pass`` nodes runs REPEATS times after a warm-up, each run
recorded whole (run row, 1,002 node records, ~2,000 ledger events). Printed: the median us/node, and the
**overhead**: that minus the median of the same chain on an engine without a store, measured alongside.
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
from collections.abc import Iterator
from contextlib import contextmanager
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


async def _median_us(store: RunStore | None, durability: str, n: int, repeats: int) -> float:
    counter = PassExecutor()
    engine = flowloom.Engine(store=store, durability=durability)
    engine.register_executor(counter)
    compiled = engine.load(workflows.chain(n))
    samples = []
    for repeat in range(repeats + 1):  # the first is a warm-up
        gc.collect()
        began = time.perf_counter()
        run = await engine.run(compiled, {"x": 1})
        elapsed = time.perf_counter() - began
        if run.status is not Status.SUCCEEDED:
            raise SystemExit(f"FAIL: run {run.status}: {run.error}")
        if store is not None and len(await store.get_nodes(run.id)) != n + 2:
            raise SystemExit(f"FAIL: {durability}: not every node was recorded")
        if repeat:
            samples.append(elapsed / (n + 2) * 1e6)
    return statistics.median(samples)


async def measure(stores: list[tuple[str, RunStore]], n: int = N, repeats: int = REPEATS) -> list[str]:
    """The result lines (also printed as they come)."""
    lines = [f"recording: chain N = {n:,}, median of {repeats}; us/node (overhead = minus no store)"]
    print(lines[0])
    header = f"{'store':<12}{'durability':<12}{'us/node':>9}{'overhead':>10}{'target':>8}  verdict"
    lines.append(header)
    print(header)
    for name, store in stores:
        async with store:
            for durability in ("transition", "batched"):
                bare = await _median_us(None, durability, n, repeats)
                recorded = await _median_us(store, durability, n, repeats)
                overhead = recorded - bare
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
        stores: list[tuple[str, RunStore]] = [
            ("memory", MemoryStore()),
            ("sqlite", SqlStore(f"sqlite:///{scratch}/bench.db")),
        ]
        if args.postgres_url:
            stores.append(("postgresql", SqlStore(args.postgres_url)))
        if args.no_postgres or args.postgres_url:
            asyncio.run(measure(stores, n, repeats))
        else:
            with postgres_server() as url:
                stores.append(("postgresql", SqlStore(url)))
                asyncio.run(measure(stores, n, repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
