"""The engine's event bus: synchronous listeners and bounded async subscriptions; ``RunEvents``, a run's
one way onto it, with the run's journal as its subscriber."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Required, TypedDict, TypeVar

import anyio

from flowloom.ir import Event, Node, NodeEvent, NodeStarted, NodeSucceeded, Scope, Status

from ._journal import RunJournal
from ._secrets import Masker

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

logger = logging.getLogger("flowloom.events")

Listener = Callable[[Event], None]
E = TypeVar("E", bound=NodeEvent)


class NodeRecordFields(TypedDict, total=False):
    """What a node record holds besides its node and scope (see ``RunJournal.node``)."""

    status: Required[Status]
    attempt: int
    inputs: Any
    outputs: Any
    branch: str | None
    error: str | None
    started_at: float | None
    ended_at: float | None
    cached: bool


class EventBus:
    """One per engine. With nobody listening, ``active`` is False and the engine builds no events."""

    __slots__ = ("_listeners", "_streams", "active")

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._streams: list[MemoryObjectSendStream[Event]] = []
        self.active = False

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event, in the engine's task. Returns a function that removes it.
        A listener that raises is logged and kept; it never breaks a run."""
        self._listeners.append(listener)
        self._refresh()

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
                self._refresh()

        return remove

    @asynccontextmanager
    async def subscribe(self, max_buffer: int = 1024) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
        """A bounded stream of events. A subscriber that falls ``max_buffer`` events behind is dropped
        (its stream ends) rather than slowing the engine down."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer)
        self._streams.append(send)
        self._refresh()
        try:
            async with receive:
                yield receive
        finally:
            self._drop(send)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %s", listener, type(event).__name__)
        for stream in tuple(self._streams):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                logger.warning(
                    "dropping a slow event subscriber after %d buffered events",
                    stream.statistics().current_buffer_used,
                )
                self._drop(stream)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._drop(stream)

    def _drop(self, stream: MemoryObjectSendStream[Event]) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
            stream.close()
            self._refresh()

    def _refresh(self) -> None:
        self.active = bool(self._listeners or self._streams)


class RunEvents:
    """One run's way onto the bus: the scheduler and the engine publish the run's events here, and nowhere
    else. The run's journal, when it is recorded, is this channel's subscriber for the run's length: it
    receives every event (and the node record each transition carries) before the bus's listeners do.
    (The run's own end, ``RunFinished`` or ``RunWaiting``, is written by the engine's ``RunRecorder`` with
    the run's row and announced on the bus once stored.) The hot transitions, a node started and a node
    succeeded, reach the journal as their fields, which it encodes itself, and the listeners as event
    objects made only when someone listens."""

    __slots__ = ("bus", "journal", "masker", "run_id")

    def __init__(
        self, bus: EventBus, run_id: str, journal: RunJournal | None = None, masker: Masker | None = None
    ) -> None:
        self.bus = bus
        self.run_id = run_id
        self.journal = journal
        self.masker = masker  # the run's secrets: listeners get events with them hidden

    @property
    def recorded(self) -> bool:
        return self.journal is not None

    @property
    def observed(self) -> bool:
        """Whether events are wanted: the run is recorded, or someone listens."""
        return self.journal is not None or self.bus.active

    def publish(self, event: Event) -> None:
        if self.journal is not None:
            self.journal.event(event)
        if self.bus.active:
            self.bus.emit(self.masker.event(event) if self.masker else event)

    def node_started(self, node: Node, scope: Scope, at: float) -> None:
        if self.journal is not None:
            self.journal.node_started(node.id, node.type, scope, at)
        if self.bus.active:
            self.bus.emit(self._node_event(NodeStarted, node, scope, at))

    def node_succeeded(
        self,
        node: Node,
        scope: Scope,
        attempt: int,
        inputs: Any,
        outputs: Any,
        branch: str | None,
        started: float,
        ended: float,
        cached: bool,
    ) -> None:
        if self.journal is not None:
            self.journal.node_succeeded(
                node.id, node.type, scope, attempt, inputs, outputs, branch, started, ended, cached
            )
        if self.bus.active:
            self.bus.emit(
                self._node_event(
                    NodeSucceeded,
                    node,
                    scope,
                    ended,
                    duration_s=ended - started,
                    branch=branch,
                    cached=cached,
                )
            )

    def node_ended(
        self,
        event: type[NodeEvent],
        node: Node,
        scope: Scope,
        at: float,
        record: NodeRecordFields,
        **fields: Any,
    ) -> None:
        """A node execution that ended otherwise (failed, canceled, skipped): its record and its event."""
        if self.journal is not None:
            self.journal.node(node.id, scope, **record)
        if self.observed:
            self.publish(self._node_event(event, node, scope, at, **fields))

    def node_event(self, event: type[NodeEvent], node: Node, scope: Scope, at: float, **fields: Any) -> None:
        """An event about a node with no record of its own (``NodeRetrying``)."""
        if self.observed:
            self.publish(self._node_event(event, node, scope, at, **fields))

    def record(self, node_id: str, scope: Scope, record: NodeRecordFields) -> None:
        """A node record with no event of its own: a node that waits (the run's ``RunWaiting`` follows), an
        execution copied from the run this one was made from."""
        if self.journal is not None:
            self.journal.node(node_id, scope, **record)

    async def commit(self) -> None:
        """Make what the journal has durable, as its durability promises (a no-op when not recorded)."""
        if self.journal is not None:
            await self.journal.commit()

    def _node_event(self, event: type[E], node: Node, scope: Scope, at: float, **fields: Any) -> E:
        return event(run_id=self.run_id, at=at, node_id=node.id, node_type=node.type, scope=scope, **fields)
