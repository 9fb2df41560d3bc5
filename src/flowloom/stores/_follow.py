"""Following a run's event ledger: what the server's streams and ``flowloom runs events --follow`` read.

A follower reads the run's events from its store from a sequence number on, in pages, then keeps reading
until the run has ended. The store is the only source: the events and their ``seq`` are the ledger's, so
a run executed by another process, or before a restart, is followed like one executed here, and nothing
comes twice or out of order whatever the journal's durability (``batched`` events arrive later, in order).

Between reads it waits on a ``Wakeup``: a process that executes the run may ``notify`` it on each of the
run's events (the engine's bus), so new events are read at once; otherwise it polls, backing off from
``FAST_POLL_S`` to ``POLL_S``. Either way every read is of the store: a wake-up only says "look now".

A follower may read only some of the events (an ``EventQuery``: by type, by node): it then reads with
``query_events`` from the last event it got, and cannot tell a gap from events it left out.

When does a run end? When the last event read is ``RunFinished`` and the run's row says it terminated
(a resumed run goes on after its earlier ``RunFinished``), or when its row says it terminated and no
``RunFinished`` follows and no engine holds its lease (a run nobody executed any more, canceled through
the store; a run canceled through the store while another engine executes it is followed until that
engine has recorded its end), or when its row is gone after it was seen (pruned).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Protocol

import anyio

from flowloom.ir import EventQuery, EventRow, FlowloomError, RunRow

FINISHED = "RunFinished"
PAGE = 500  # events per read
FAST_POLL_S = 0.02  # the first wait after news: a commit often lands just after the bus event
POLL_S = 0.2  # the longest wait between two reads of a run that is still going
ROW_CHECK_S = 1.0  # how often a quiet run's row is read, to see whether it ended without RunFinished


class RunEvents(Protocol):
    """Where a run's events and row are read from: any ``RunStore`` (or a stand-in with these reads)."""

    async def get_events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[EventRow]:
        """The run's events with ``seq > after``, in order (at most ``limit``)."""

    async def query_events(self, run_id: str, query: EventQuery, limit: int | None = None) -> list[EventRow]:
        """The run's events that match ``query``, in order (at most ``limit``)."""

    async def get_run(self, run_id: str) -> RunRow | None:
        """The run's row, or ``None``."""


class EventsLost(FlowloomError):
    """The events a follower needs next are gone from the ledger (a bounded in-memory one dropped them,
    or the run was deleted): it cannot go on without a gap."""


class Wakeup:
    """A flag a follower waits on between reads; ``notify()`` it when the run may have new events,
    ``close()`` it to end the follow (a server shutting down)."""

    __slots__ = ("_event", "closed")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.closed = False

    def notify(self) -> None:
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    def _arm(self) -> None:
        if self._event.is_set() and not self.closed:
            self._event = anyio.Event()

    async def _wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; True when notified (or closed) meanwhile."""
        with anyio.move_on_after(timeout_s):
            await self._event.wait()
            return True
        return False


async def follow_events(
    source: RunEvents,
    run_id: str,
    after: int = 0,
    *,
    wakeup: Wakeup | None = None,
    heartbeat_s: float | None = None,
    poll_s: float = POLL_S,
    done: Callable[[], bool] | None = None,
    query: EventQuery | None = None,
) -> AsyncIterator[EventRow | None]:
    """The run's events with ``seq > after``, then its new ones as they are recorded, until it ends (see the
    module) or ``wakeup`` is closed. With ``heartbeat_s``, ``None`` comes after that long without an event
    (for keep-alives). ``done``: for a run executed here, whether its handle says it ended (after its end
    was recorded): then a read with nothing new ends the follow, even if the store never got the run.
    ``query``: only the events it matches (its ``after`` aside). Raises ``EventsLost`` when the ledger
    skips numbers it should hold (unfiltered follows only)."""
    wakeup = wakeup if wakeup is not None else Wakeup()
    filtered = query is not None and query.filtered

    async def read(after: int, limit: int | None) -> list[EventRow]:
        if query is None or not filtered:
            return await source.get_events(run_id, after, limit)
        return await source.query_events(run_id, replace(query, after=after, newest=False), limit)

    last = after
    delay = FAST_POLL_S
    seen_row = False
    next_row_check = 0.0  # at once: a finished run followed from its end ends at once
    quiet_since = time.monotonic()
    at_finish = False  # the last event read is a RunFinished: the row decides whether more come
    while not wakeup.closed:
        wakeup._arm()  # before the read: an event recorded during it still wakes the next wait
        rows = await read(last, PAGE)
        if rows:
            if rows[0].seq != last + 1 and not filtered:
                raise EventsLost(f"run {run_id}: events {last + 1} to {rows[0].seq - 1} are no longer kept")
            for row in rows:
                yield row
                last = row.seq
            quiet_since = time.monotonic()
            delay = FAST_POLL_S
            at_finish = rows[-1].type == FINISHED
            if len(rows) == PAGE:
                continue
            if not at_finish:
                await wakeup._wait(delay)
                continue
        if not rows and done is not None and done():
            finished = await read(last, None)  # done() may have turned true after the read
            for late in finished:
                yield late
            return
        if at_finish or time.monotonic() >= next_row_check:
            next_row_check = time.monotonic() + ROW_CHECK_S
            run = await source.get_run(run_id)
            if run is not None:
                seen_row = True
            if (run is None and seen_row) or (
                run is not None and run.status.terminated and (at_finish or not _owned(run))
            ):
                # it ended: what it recorded before its row said so is read by now, or by this last read
                for late in await read(last, None):
                    yield late
                return
        if heartbeat_s is not None and time.monotonic() - quiet_since >= heartbeat_s:
            quiet_since = time.monotonic()
            yield None
        if await wakeup._wait(delay):
            delay = FAST_POLL_S
        else:
            delay = min(delay * 2, poll_s)


def _owned(run: RunRow) -> bool:
    """Whether an engine holds the run's lease (it still executes the run and will record its end)."""
    return run.owner is not None and (run.lease_expires_at or 0.0) > time.time()
