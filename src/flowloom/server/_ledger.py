"""``MemoryLedger``: the events of the runs a store-less engine executes, kept in memory (the last
``size`` per run), numbered and read as a store's ledger is, so the server's streams read one kind of
source whether the engine records runs or not."""

from __future__ import annotations

from collections import deque
from itertools import islice

from flowloom.ir import (
    Event,
    EventQuery,
    EventRow,
    LLMDelta,
    NodeProgress,
    RunFinished,
    RunRow,
    RunStarted,
    Status,
)
from flowloom.ir import event_json as _event_json

#: events a journal does not record either (token streams, progress ticks): never numbered
LIVE_ONLY = (LLMDelta, NodeProgress)


class _RunEvents:
    __slots__ = ("ended_at", "events", "seq", "started_at", "status")

    def __init__(self, size: int) -> None:
        self.events: deque[EventRow] = deque(maxlen=size)
        self.seq = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.status = Status.PROCESSING


class MemoryLedger:
    """A ``RunEvents`` source fed with the engine's events (``record``)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._runs: dict[str, _RunEvents] = {}

    def record(self, event: Event) -> None:
        if isinstance(event, LIVE_ONLY):
            return
        run = self._runs.get(event.run_id)
        if run is None:
            run = self._runs[event.run_id] = _RunEvents(self._size)
        if isinstance(event, RunStarted):
            run.started_at, run.ended_at, run.status = event.at, None, Status.PROCESSING
        elif isinstance(event, RunFinished):
            run.ended_at, run.status = event.at, event.status
        run.seq += 1
        data = _event_json(event)
        run.events.append(
            EventRow(run_id=event.run_id, seq=run.seq, type=type(event).__name__, data=data, at=event.at)
        )

    def forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    def times(self, run_id: str) -> tuple[float | None, float | None]:
        """When the run started and ended (``None``: not yet, or never)."""
        run = self._runs.get(run_id)
        return (run.started_at, run.ended_at) if run is not None else (None, None)

    async def get_events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[EventRow]:
        run = self._runs.get(run_id)
        if run is None:
            return []
        newer = min(run.seq - after, len(run.events))  # read from the end: followers are near it
        found = list(islice(reversed(run.events), max(newer, 0)))[::-1]
        return found if limit is None else found[:limit]

    async def query_events(self, run_id: str, query: EventQuery, limit: int | None = None) -> list[EventRow]:
        run = self._runs.get(run_id)
        before = query.before
        found = [
            row
            for row in (run.events if run is not None else ())
            if query.after < row.seq
            and (before is None or row.seq < before)
            and query.matches(row.type, row.data)
        ]
        if limit is None:
            return found
        return found[-limit:] if query.newest else found[:limit]

    async def get_run(self, run_id: str) -> RunRow | None:
        run = self._runs.get(run_id)
        if run is None:
            return None
        created = run.started_at or run.ended_at or 0.0
        return RunRow(
            id=run_id,
            workflow_hash="",
            status=run.status,
            created_at=created,
            started_at=run.started_at,
            ended_at=run.ended_at,
        )
