"""A run's recorded events on stdout: ``flowloom run --jsonl`` (the run executed here) and
``flowloom runs events`` (any run in the store). Both read the run's ledger with
``flowloom.stores.follow_events``, so the events and their ``seq`` are the store's, as the server's streams
send them."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from flowloom.engine import Engine, Run
from flowloom.ir import EventRow, RunStore

from ._output import print_json


def event_line(row: EventRow) -> str:
    """One event as JSON, the WebSocket's message: ``{seq, run_id, type, data}``."""
    message = {"seq": row.seq, "run_id": row.run_id, "type": row.type, "data": row.data}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


def event_text(row: EventRow) -> str:
    """One event for a reader: seq, time, type, then the node and what happened."""
    data = row.data if isinstance(row.data, dict) else {}
    at = dt.datetime.fromtimestamp(row.at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    where = data.get("node_id") or ""
    scope = data.get("scope")
    if where and scope:
        where += "[" + "/".join(map(str, scope)) + "]"
    details = [str(data[key]) for key in ("status", "error", "reason", "stream", "line") if data.get(key)]
    return "  ".join(part for part in (f"{row.seq:>5}", at, f"{row.type:<14}", where, *details) if part)


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # as it happens: a reader of a pipe sees each event at once


async def print_events(store: RunStore, run_id: str, after: int, *, follow: bool, as_json: bool) -> None:
    """Print the run's events after ``after``: those recorded now, or with ``follow`` until it ends."""
    from flowloom.stores import follow_events

    line: Callable[[EventRow], str] = event_line if as_json else event_text
    if not follow:
        while rows := await store.get_events(run_id, after, 1000):
            for row in rows:
                write_line(line(row))
            after = rows[-1].seq
        return
    async for event in follow_events(store, run_id, after):
        assert event is not None
        write_line(line(event))


async def run_jsonl(
    engine: Engine,
    workflow: Any,
    inputs: dict[str, Any],
    workflow_format: str | None = None,
    *,
    run_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Run:
    """Start the run, print its events as JSON lines as they are recorded, then its ``--json`` object."""
    from flowloom.stores import Wakeup, follow_events

    assert engine.store is not None
    run = engine.start(workflow, inputs, format=workflow_format, run_id=run_id, metadata=metadata)
    wakeup = Wakeup()
    remove = engine.bus.add_listener(lambda event: wakeup.notify() if event.run_id == run.id else None)
    try:
        async for row in follow_events(engine.store, run.id, wakeup=wakeup, done=lambda: run.done):
            assert row is not None
            write_line(event_line(row))
    finally:
        remove()
    await run.join()
    print_json(run)
    return run
