"""The runs of a store that an every-run stream should follow, wherever they execute: another engine on
the same store (another process, another server) records its runs there, and this server's bus never
hears of them. Every ``RUNS_POLL_S`` the store is asked for the runs changed since the stream began: those
created since (a range of the ``(created_at, id)`` index) and those going (pending or processing: a range of
the ``(status, created_at, id)`` index), so a run started earlier that goes on, ends or is resumed is seen
too. The stream follows each one's ledger from the store, as it does a run of its own. A run that was
waiting when the stream began is not followed until it is resumed: a store may hold many parked runs."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from flowloom.ir import RunQuery, RunStore, Status

RUNS_POLL_S = 0.5  # how often the store is asked for runs changed since
RUNS_PER_POLL = 500  # runs per question at most (newest first)
CLOCK_SKEW_S = 1.0  # runs created this long before the stream began still count as new (other clocks)
_GOING = (Status.PENDING, Status.PROCESSING)


async def discover_runs(store: RunStore, since: float, found: Callable[[str, bool], None]) -> None:
    """Call ``found(run_id, going)`` for each run created since ``since`` (``going``: not ended yet) and
    each run pending or processing, every ``RUNS_POLL_S``, until canceled."""
    new = RunQuery(created_from=since - CLOCK_SKEW_S)
    going = RunQuery(statuses=_GOING)
    while True:
        for row in await store.query_runs(going, RUNS_PER_POLL):
            found(row.id, True)
        for row in await store.query_runs(new, RUNS_PER_POLL):
            found(row.id, not row.status.terminated)
        await anyio.sleep(RUNS_POLL_S)
