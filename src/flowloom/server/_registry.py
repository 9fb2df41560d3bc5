"""The server's runs: a registry with bounded retention, and per-run event ledgers (fed by one bus
listener) that the event streams replay from and then follow live."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from flowloom import Engine, Run, Status
from flowloom.ir import Event, RunFinished, RunStarted

logger = logging.getLogger("flowloom.server")

LedgerEntry = tuple[int, Event]  # (seq within its run, from 1; the event)


@dataclass(slots=True)
class RunEntry:
    run: Run
    created_at: float


class RunLedger:
    """The last events of one run, numbered, and when it started and ended."""

    __slots__ = ("ended_at", "events", "seq", "started_at")

    def __init__(self, size: int) -> None:
        self.events: deque[LedgerEntry] = deque(maxlen=size)
        self.seq = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None


class Subscription:
    """One client's view of the events of a run (or of every run): send ``backlog`` first, then what
    arrives on ``stream``. The stream ends when the client fell too far behind (``dropped``) or the server
    is shutting down. ``complete``: the run had already finished when the subscription began."""

    __slots__ = ("_send", "backlog", "complete", "dropped", "run_id", "stream")

    def __init__(self, run_id: str | None, buffer: int) -> None:
        self.run_id = run_id
        self._send: MemoryObjectSendStream[LedgerEntry]
        self.stream: MemoryObjectReceiveStream[LedgerEntry]
        self._send, self.stream = anyio.create_memory_object_stream[LedgerEntry](buffer)
        self.backlog: list[LedgerEntry] = []
        self.complete = False
        self.dropped = False

    def _offer(self, entry: LedgerEntry) -> bool:
        """Queue ``entry`` without waiting; False when this subscriber must go."""
        try:
            self._send.send_nowait(entry)
        except anyio.WouldBlock:
            self.dropped = True
            logger.warning(
                "dropped a slow event subscriber (%s) after %d buffered events",
                f"run {self.run_id}" if self.run_id else "all runs",
                self._send.statistics().current_buffer_used,
            )
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def _close(self) -> None:
        self._send.close()


class RunRegistry:
    """Runs started through the server, kept while running and then until there are more than
    ``max_runs`` finished ones or they ended more than ``max_age_s`` ago."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_runs: int,
        max_age_s: float,
        event_buffer: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self._max_runs = max_runs
        self._max_age_s = max_age_s
        self._event_buffer = event_buffer
        self._clock = clock
        self._runs: dict[str, RunEntry] = {}
        self._ledgers: dict[str, RunLedger] = {}
        self._finished: OrderedDict[str, float] = OrderedDict()  # run id -> end time, oldest first
        self._subscribers: dict[str | None, set[Subscription]] = {}
        self._remove_listener: Callable[[], None] | None = None
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Start recording the engine's events (one bus listener)."""
        if self._remove_listener is None:
            self._remove_listener = self.engine.bus.add_listener(self._on_event)
            self._closing = False

    def detach(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None

    def close_streams(self) -> None:
        """End every event stream, now and for later subscribers: the server is shutting down."""
        self._closing = True
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription._close()

    async def cancel_active(self, timeout_s: float) -> list[str]:
        """Cancel every run still going and wait (up to ``timeout_s``) until they have recorded their end."""
        active = [entry.run for entry in self._runs.values() if not entry.run.done]
        for run in active:
            run.cancel()
        with anyio.move_on_after(timeout_s):
            for run in active:
                await run.wait()
        if active:
            logger.warning("canceled %d running run(s) at shutdown: %s", len(active), [r.id for r in active])
        return [run.id for run in active]

    # -- runs -----------------------------------------------------------------------------------

    def start(self, workflow: Mapping[str, Any] | str, inputs: Mapping[str, Any]) -> Run:
        """Start a run of flowgram JSON (an object or its text). Raises ``InvalidWorkflowError`` when the
        text is not JSON; a workflow that fails validation gives a run that has already failed."""
        run = self.engine.start(workflow, inputs, run_id=str(uuid.uuid4()))
        now = self._clock()
        self._runs[run.id] = RunEntry(run, now)
        if run.done and run.id not in self._finished:  # rejected at once, before we could see its end
            self._finished[run.id] = now
        self._prune()
        return run

    def adopt(self, run: Run) -> None:
        """Keep a run the engine started on its own (a resumed one) like those started here. A resumed run
        takes the place of its earlier handle once that one is done (a waiting run answered here)."""
        known = self._runs.get(run.id)
        if known is None or (known.run is not run and known.run.done):
            self._runs[run.id] = RunEntry(run, known.created_at if known is not None else self._clock())

    def get(self, run_id: str) -> RunEntry | None:
        return self._runs.get(run_id)

    def runs(self, status: Status | None = None) -> list[RunEntry]:
        """Every kept run, newest first, optionally only those with ``status``."""
        self._prune()
        entries = reversed(self._runs.values())
        return [e for e in entries if status is None or e.run.status is status]

    def times(self, run_id: str) -> tuple[float | None, float | None]:
        """When the run started and ended (``None``: not yet, or never)."""
        ledger = self._ledgers.get(run_id)
        return (ledger.started_at, ledger.ended_at) if ledger is not None else (None, None)

    # -- events ---------------------------------------------------------------------------------

    @contextmanager
    def subscribe(self, run_id: str | None, after: int = 0) -> Iterator[Subscription]:
        """Events of ``run_id`` (every run: ``None``). For one run, ``backlog`` holds its recorded
        events numbered above ``after``; for every run, only new events come."""
        subscription = Subscription(run_id, self._event_buffer)
        if run_id is not None:
            ledger = self._ledgers.get(run_id)
            if ledger is not None:
                subscription.backlog = [entry for entry in ledger.events if entry[0] > after]
            entry = self._runs.get(run_id)
            subscription.complete = (ledger is not None and ledger.ended_at is not None) or (
                entry is not None and entry.run.done
            )
        subscribers = self._subscribers.setdefault(run_id, set())
        subscribers.add(subscription)
        if self._closing:
            subscription._close()
        try:
            yield subscription
        finally:
            subscribers.discard(subscription)
            if not subscribers and self._subscribers.get(run_id) is subscribers:
                del self._subscribers[run_id]
            subscription._close()
            subscription.stream.close()

    def _on_event(self, event: Event) -> None:
        run_id = event.run_id
        ledger = self._ledgers.get(run_id)
        if ledger is None:
            ledger = self._ledgers[run_id] = RunLedger(self._event_buffer)
        ledger.seq += 1
        entry = (ledger.seq, event)
        ledger.events.append(entry)
        if isinstance(event, RunStarted):
            ledger.started_at = event.at
        elif isinstance(event, RunFinished):
            ledger.ended_at = event.at
            self._finished[run_id] = event.at
        if self._subscribers:
            for key in (run_id, None):
                subscribers = self._subscribers.get(key)
                if subscribers:
                    for subscription in tuple(subscribers):
                        if not subscription._offer(entry):
                            subscribers.discard(subscription)
                            subscription._close()
        if isinstance(event, RunFinished):
            self._prune()

    def _prune(self) -> None:
        oldest_kept = self._clock() - self._max_age_s
        finished = self._finished
        while finished:
            run_id, ended_at = next(iter(finished.items()))
            if len(finished) <= self._max_runs and ended_at >= oldest_kept:
                break
            del finished[run_id]
            self._runs.pop(run_id, None)
            self._ledgers.pop(run_id, None)
