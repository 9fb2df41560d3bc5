"""flowloom.stores overhead: microseconds per node record, written the two ways the engine will write them.

    uv run python bench/stores.py                       # SQLite file + a throwaway PostgreSQL server
    uv run python bench/stores.py --postgres-url URL    # an existing PostgreSQL database instead
    uv run python bench/stores.py --no-postgres         # SQLite (and memory) only

Each record is one node row plus one ledger event, as a node transition will be recorded:
- ``record_node``: one transaction (one commit) per record -- "commit per transition";
- ``record_nodes``: 100 records per transaction -- the batched mode.
For each store and mode: 1,000 records (after a warm-up), median of 5 repeats, printed as us/record. Also
printed: one empty ``anyio.to_thread.run_sync`` round trip, the floor of any SQL call from the event loop.

The throwaway PostgreSQL server (scripts/postgres.sh) runs with its default settings (fsync on, synchronous
commit on); SQLite runs as SqlStore opens it (WAL, synchronous=NORMAL). Timings depend on the machine and on
its load; compare runs made on the same machine. Targets for the *engine* with recording (later):
<= 150 us/node with a commit per transition on SQLite, <= 30 us/node batched.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread

from flowloom.ir import Status
from flowloom.stores import MemoryStore, NewEvent, NodeRow, RunRow, RunStore, SqlStore

RECORDS = 1_000
BATCH = 100
REPEATS = 5
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "postgres.sh"
PAYLOAD = {"text": "hello world", "tokens": [1, 2, 3], "usage": {"prompt": 12, "completion": 3}}


def _records(run_id: str, n: int) -> list[tuple[NodeRow, NewEvent]]:
    records = []
    for i in range(n):
        node = NodeRow(
            run_id=run_id,
            node_id=f"node_{i}",
            status=Status.SUCCEEDED,
            inputs={"x": i},
            outputs=PAYLOAD,
            started_at=1.0,
            ended_at=2.0,
        )
        event = NewEvent(run_id=run_id, type="node_succeeded", data={"node_id": node.node_id}, at=2.0)
        records.append((node, event))
    return records


async def _one_by_one(store: RunStore, records: list[tuple[NodeRow, NewEvent]]) -> None:
    for node, event in records:
        await store.record_node(node, (event,))


async def _batched(store: RunStore, records: list[tuple[NodeRow, NewEvent]]) -> None:
    for start in range(0, len(records), BATCH):
        chunk = records[start : start + BATCH]
        await store.record_nodes([node for node, _ in chunk], [event for _, event in chunk])


Writer = Callable[[RunStore, list[tuple[NodeRow, NewEvent]]], Awaitable[None]]


async def _measure(store: RunStore, write: Writer, label: str) -> float:
    """Median us/record over REPEATS runs of RECORDS records, each into a fresh run."""
    samples = []
    for repeat in range(REPEATS + 1):  # the first is a warm-up
        run_id = f"{label}-{repeat}"
        await store.create_run(
            RunRow(id=run_id, workflow_hash="bench", status=Status.PROCESSING, created_at=0.0)
        )
        records = _records(run_id, RECORDS)
        started = time.perf_counter()
        await write(store, records)
        elapsed = time.perf_counter() - started
        if repeat:
            samples.append(elapsed / RECORDS * 1e6)
        if len(await store.get_nodes(run_id)) != RECORDS:
            raise SystemExit(f"FAIL: {label}: not every record was stored")
    return statistics.median(samples)


async def _thread_round_trip_us() -> float:
    limiter = anyio.CapacityLimiter(1)
    for _ in range(100):
        await anyio.to_thread.run_sync(lambda: None, limiter=limiter)
    started = time.perf_counter()
    for _ in range(RECORDS):
        await anyio.to_thread.run_sync(lambda: None, limiter=limiter)
    return (time.perf_counter() - started) / RECORDS * 1e6


async def _bench(stores: list[tuple[str, RunStore]]) -> None:
    print(f"{RECORDS:,} records (node row + 1 event) per measurement, median of {REPEATS}; us/record")
    print(f"empty thread round trip (anyio.to_thread.run_sync): {await _thread_round_trip_us():8.1f} us")
    print(f"{'store':<12}{'record_node (commit each)':>28}{f'record_nodes ({BATCH}/batch)':>28}")
    for name, store in stores:
        async with store:
            one = await _measure(store, _one_by_one, f"{name}-one")
            batch = await _measure(store, _batched, f"{name}-batch")
        print(f"{name:<12}{one:>28.1f}{batch:>28.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", help="an existing PostgreSQL database (its tables are created)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowloom-bench-") as scratch:
        stores: list[tuple[str, RunStore]] = [
            ("memory", MemoryStore()),
            ("sqlite", SqlStore(f"sqlite:///{scratch}/bench.db")),
        ]
        server_dir = None
        if args.postgres_url:
            stores.append(("postgresql", SqlStore(args.postgres_url)))
        elif not args.no_postgres:
            server_dir = Path(tempfile.mkdtemp(prefix="flowloom-bench-pg-"))
            server_dir.rmdir()
            port = _free_port()
            started = subprocess.run(
                ["bash", str(SCRIPT), "start", str(server_dir), str(port)], capture_output=True, text=True
            )
            if started.returncode != 0:
                print(started.stderr, file=sys.stderr)
                return 1
            stores.append(("postgresql", SqlStore(started.stdout.strip().splitlines()[-1])))
        try:
            anyio.run(_bench, stores)
        finally:
            if server_dir is not None:
                subprocess.run(["bash", str(SCRIPT), "stop", str(server_dir)], capture_output=True)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    sys.exit(main())
