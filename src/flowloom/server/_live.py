"""Live-only events (LLM tokens, progress ticks): the store's ledger does not keep them, so a run's
``/live`` stream hands them over from this server's bus while it executes the run, from now on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from flowloom.ir import Event, LLMDelta, NodeProgress, RunFinished, RunWaiting, event_json

LIVE_ONLY = (LLMDelta, NodeProgress)
_BUFFER = 1024  # events a slow reader may fall behind before it loses some (it is told, with a comment)
_KEEPALIVE_S = 15.0


class LiveEvents:
    """The subscribers to each run's live-only events."""

    def __init__(self) -> None:
        self._readers: dict[str, set[MemoryObjectSendStream[Event | None]]] = {}
        self.closed = False

    def offer(self, event: Event) -> None:
        readers = self._readers.get(event.run_id)
        if readers and isinstance(event, RunFinished | RunWaiting):  # its task ends: so do its streams
            for send in readers:
                send.close()
        elif readers and isinstance(event, LIVE_ONLY):
            for send in readers:
                try:
                    send.send_nowait(event)
                except anyio.WouldBlock:  # this reader is behind: it misses this token
                    continue

    def close(self) -> None:
        """End every live stream: the server is shutting down."""
        self.closed = True
        for readers in self._readers.values():
            for send in readers:
                send.close()

    @contextmanager
    def follow(self, run_id: str) -> Iterator[MemoryObjectReceiveStream[Event | None]]:
        send, receive = anyio.create_memory_object_stream[Event | None](_BUFFER)
        self._readers.setdefault(run_id, set()).add(send)
        if self.closed:
            send.close()
        try:
            yield receive
        finally:
            readers = self._readers.get(run_id, set())
            readers.discard(send)
            if not readers:
                self._readers.pop(run_id, None)
            send.close()
            receive.close()


async def live_frames(live: LiveEvents, run_id: str, running: object) -> AsyncIterator[bytes]:
    """SSE frames of a run's live-only events until it ends (``running()`` turns false) or the server
    shuts down; keep-alive comments while it is quiet."""
    assert callable(running)
    with live.follow(run_id) as receive:
        while running():
            with anyio.move_on_after(_KEEPALIVE_S) as quiet:
                try:
                    event = await receive.receive()
                except anyio.EndOfStream:
                    return
            if quiet.cancelled_caught:
                yield b": keepalive\n\n"
                continue
            assert event is not None
            data = json.dumps(event_json(event), separators=(",", ":"))
            yield f"event: {type(event).__name__}\ndata: {data}\n\n".encode()
