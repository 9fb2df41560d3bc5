"""The server's runs: a registry of the runs started here, with bounded retention, and the wake-ups of
the event streams (one bus listener). The streams read events from the engine's store (or, for an engine
without one, from a ``MemoryLedger`` fed by the same listener): see ``flowloom.stores.follow_events``."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from flowloom.engine import CompiledWorkflow, Engine, Run
from flowloom.formats import JsonText
from flowloom.ir import Event, RunFinished, Status
from flowloom.stores import RunEvents, Wakeup

from ._ledger import MemoryLedger
from ._live import LiveEvents

logger = logging.getLogger("flowloom.server")


@dataclass(slots=True)
class RunEntry:
    run: Run
    created_at: float


class RunWatch:
    """An every-run stream's view: the id of each run this server executes, once, when its first event
    since the watch began comes (``runs``). Ends when it falls ``buffer`` runs behind (``dropped``) or the
    server shuts down."""

    __slots__ = ("_send", "dropped", "runs", "seen")

    def __init__(self, buffer: int) -> None:
        self._send: MemoryObjectSendStream[str]
        self.runs: MemoryObjectReceiveStream[str]
        self._send, self.runs = anyio.create_memory_object_stream[str](buffer)
        self.seen: set[str] = set()
        self.dropped = False

    def _offer(self, run_id: str) -> bool:
        """Queue ``run_id`` without waiting; False when this watch must go."""
        try:
            self._send.send_nowait(run_id)
        except anyio.WouldBlock:
            self.dropped = True
            logger.warning("dropped a slow every-run event subscriber after %d runs", len(self.seen))
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def _close(self) -> None:
        self._send.close()


class RunRegistry:
    """Runs started through the server, kept while running and then until there are more than
    ``max_runs`` finished ones or they ended more than ``max_age_s`` ago; and what the event streams need:
    where a run's events are read (``events``) and a wake-up per stream."""

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
        self._finished: OrderedDict[str, float] = OrderedDict()  # run id -> end time, oldest first
        # a store-less engine's events, read as a store's ledger would be
        self.ledger = MemoryLedger(event_buffer) if engine.store is None else None
        self._wakeups: dict[str, set[Wakeup]] = {}  # by run id: the streams following that run
        self._watches: set[RunWatch] = set()
        self._remove_listener: Callable[[], None] | None = None
        self._closing = False
        self.live = LiveEvents()  # tokens and progress, which the ledger does not keep

    @property
    def events(self) -> RunEvents:
        """Where runs' events are read: the engine's store, or the memory ledger of a store-less engine."""
        source = self.engine.store if self.engine.store is not None else self.ledger
        assert source is not None
        return source

    # -- lifecycle ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Start listening to the engine's events (one bus listener)."""
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
        self.live.close()
        for wakeups in self._wakeups.values():
            for wakeup in wakeups:
                wakeup.close()
        for watch in self._watches:
            watch._close()

    async def cancel_active(self, timeout_s: float) -> list[str]:
        """Cancel every run still going and wait (up to ``timeout_s``) until they have recorded their end."""
        active = [entry.run for entry in self._runs.values() if not entry.run.done]
        for run in active:
            run.cancel()
        with anyio.move_on_after(timeout_s):
            for run in active:
                await run.join()
        if active:
            logger.warning("canceled %d running run(s) at shutdown: %s", len(active), [r.id for r in active])
        return [run.id for run in active]

    # -- runs -----------------------------------------------------------------------------------

    def start(
        self,
        workflow: Mapping[str, Any] | str | CompiledWorkflow,
        inputs: Mapping[str, Any],
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run of a workflow (an object, its JSON text, or compiled). Raises ``InvalidWorkflowError``
        when the text is not JSON; a workflow that fails validation gives a run that has already failed.
        ``metadata`` is recorded with the run (a trigger's, for instance)."""
        source = workflow if isinstance(workflow, CompiledWorkflow) else request_document(workflow)
        run = self.engine.start(source, inputs, run_id=run_id or str(uuid.uuid4()), metadata=metadata)
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
        """When a run of a store-less engine started and ended (``None``: not yet, or never)."""
        return self.ledger.times(run_id) if self.ledger is not None else (None, None)

    # -- events ---------------------------------------------------------------------------------

    @contextmanager
    def wakeup(self, run_id: str) -> Iterator[Wakeup]:
        """A wake-up for a stream following ``run_id``: notified on each of the run's events while this
        server executes it, closed when the server shuts down."""
        wakeup = Wakeup()
        wakeups = self._wakeups.setdefault(run_id, set())
        wakeups.add(wakeup)
        if self._closing:
            wakeup.close()
        try:
            yield wakeup
        finally:
            wakeups.discard(wakeup)
            if not wakeups and self._wakeups.get(run_id) is wakeups:
                del self._wakeups[run_id]

    @contextmanager
    def watch(self) -> Iterator[RunWatch]:
        """The runs this server executes from now on, each once (see ``RunWatch``)."""
        watch = RunWatch(self._event_buffer)
        self._watches.add(watch)
        if self._closing:
            watch._close()
        try:
            yield watch
        finally:
            self._watches.discard(watch)
            watch._close()
            watch.runs.close()

    def _on_event(self, event: Event) -> None:
        run_id = event.run_id
        if self.ledger is not None:
            self.ledger.record(event)
        wakeups = self._wakeups.get(run_id)
        if wakeups:
            for wakeup in wakeups:
                wakeup.notify()
        self.live.offer(event)
        if self._watches:
            for watch in tuple(self._watches):
                if run_id not in watch.seen:
                    watch.seen.add(run_id)
                    if not watch._offer(run_id):
                        self._watches.discard(watch)
                        watch._close()
        if isinstance(event, RunFinished):
            self._finished[run_id] = event.at
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
            if self.ledger is not None:
                self.ledger.forget(run_id)


def request_document(workflow: Mapping[str, Any] | str) -> Mapping[str, Any] | JsonText:
    """A workflow as a request carries it: an object, or JSON text, which is never read as a path."""
    return JsonText(workflow) if isinstance(workflow, str) else workflow
