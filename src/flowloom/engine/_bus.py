"""The engine's event bus: synchronous listeners and bounded async subscriptions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from flowloom.ir import Event

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

logger = logging.getLogger("flowloom.events")

Listener = Callable[[Event], None]


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
