"""The event streams of the runs API: Server-Sent Events of one run, and WebSocket messages of one run or
of every run. Every event comes from the run's ledger in the store, with the store's ``seq``, through
``flowloom.stores.follow_events``: a run executed by another process, or before a restart, streams like
one executed here (whose bus events only wake the reader up)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import anyio
from anyio.abc import ObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from flowloom.ir import EventQuery, EventRow, FlowloomError, RunStore
from flowloom.stores import EventsLost, follow_events

from ._registry import RunRegistry
from ._storeruns import discover_runs

logger = logging.getLogger("flowloom.server")
KEEPALIVE_S = 15.0
_KEEPALIVE = b": keep-alive\n\n"
_CLOSE_FINISHED = (1000, "run finished")
_CLOSE_SHUTDOWN = (1001, "server shutting down")
_CLOSE_BEHIND = (1013, "too slow: events were dropped; reconnect with last_event_id")


RowMessage: TypeAlias = Callable[[EventRow], Awaitable[dict[str, Any] | None]]
"""How one run's events are said in a dialect (see ``_flowengine_events.py``): a row's message, with a
``type``, or ``None`` for an event the dialect has no word for."""
Dialect: TypeAlias = Callable[[str], RowMessage]
"""A dialect: for a run id, its ``RowMessage``; ``None`` where one is expected: flowloom's own messages."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def sse_frame(row: EventRow) -> bytes:
    return f"id: {row.seq}\nevent: {row.type}\ndata: {_dumps(row.data)}\n\n".encode()


def event_message(row: EventRow) -> dict[str, Any]:
    """One event as the WebSocket and ``flowloom run --jsonl`` send it: ``{seq, run_id, type, data}``."""
    return {"seq": row.seq, "run_id": row.run_id, "type": row.type, "data": row.data}


async def sse_frames(
    registry: RunRegistry,
    run_id: str,
    after: int,
    query: EventQuery | None = None,
    dialect: Dialect | None = None,
) -> AsyncIterator[bytes]:
    """A run's events after ``after`` (those ``query`` matches) as SSE frames, until it ends; keep-alive
    comments while it is quiet. Ends early when the server shuts down or the events are no longer kept (the
    client may come back with ``Last-Event-ID``). With a ``dialect``, each event is its message (the SSE
    ``event:`` its ``type``)."""
    message = dialect(run_id) if dialect is not None else None
    with registry.wakeup(run_id) as wakeup:
        try:
            async for row in follow_events(
                registry.events, run_id, after, wakeup=wakeup, heartbeat_s=KEEPALIVE_S, query=query
            ):
                if row is None:
                    yield _KEEPALIVE
                elif message is None:
                    yield sse_frame(row)
                else:
                    said = await message(row)
                    if said is not None:
                        yield f"id: {row.seq}\nevent: {said['type']}\ndata: {_dumps(said)}\n\n".encode()
        except EventsLost:
            return
        except FlowloomError as exc:  # the store failed under the stream: end it, say why in the log
            logger.error("event stream of run %s ended: %s", run_id, exc)


async def _ws_text(row: EventRow, message: RowMessage | None) -> str | None:
    if message is None:
        return _dumps(event_message(row))
    said = await message(row)
    return None if said is None else _dumps(said)


async def one_run(
    websocket: WebSocket,
    registry: RunRegistry,
    run_id: str,
    after: int,
    query: EventQuery | None = None,
    dialect: Dialect | None = None,
) -> tuple[int, str]:
    """Send a run's events after ``after`` (those ``query`` matches, in ``dialect`` if given); the close code
    and reason: 1000 when it ended, 1001 when the server shuts down, 1013 when its events are no longer
    kept."""
    message = dialect(run_id) if dialect is not None else None
    with registry.wakeup(run_id) as wakeup:
        try:
            async for row in follow_events(registry.events, run_id, after, wakeup=wakeup, query=query):
                assert row is not None
                text = await _ws_text(row, message)
                if text is not None:
                    await websocket.send_text(text)
        except EventsLost:
            return _CLOSE_BEHIND
        except FlowloomError as exc:
            logger.error("event stream of run %s ended: %s", run_id, exc)
            return 1011, f"cannot read the run's events: {exc}"[:120]
        return _CLOSE_SHUTDOWN if wakeup.closed else _CLOSE_FINISHED


async def every_run(
    websocket: WebSocket,
    registry: RunRegistry,
    query: EventQuery | None = None,
    dialect: Dialect | None = None,
    only: str | None = None,
) -> tuple[int, str] | None:
    """Send the events (those ``query`` matches, in ``dialect`` if given), recorded from now on, of every run
    (``only``: of that run): those this server executes (its bus says so at once) and, with a store, those
    any engine records there (see ``discover_runs``); each run's in order, one follower per run, their
    messages sent in turn. Closes 1001 when the server shuts down, 1013 when the client fell behind; ``None``
    when the client left."""
    since = time.time()
    left = False
    sent: dict[str, int] = {}  # run id -> the last seq sent: a run seen again (resumed) goes on from there
    following: set[str] = set()
    ended: set[str] = set()  # followed to its end: followed again only when the store says it goes on
    send, receive = anyio.create_memory_object_stream[str](64)

    async def follow(run_id: str, out: ObjectSendStream[str]) -> None:
        message = dialect(run_id) if dialect is not None else None
        async with out:
            with registry.wakeup(run_id) as wakeup:
                rows = follow_events(registry.events, run_id, sent.get(run_id, 0), wakeup=wakeup, query=query)
                try:
                    async for row in rows:
                        assert row is not None
                        sent[run_id] = row.seq
                        text = await _ws_text(row, message)  # before the time check: dialects keep state
                        if row.at >= since and text is not None:
                            await out.send(text)
                except EventsLost:
                    pass
                except FlowloomError as exc:
                    logger.error("event stream of run %s ended: %s", run_id, exc)
            watch.seen.discard(run_id)  # its next events (a resume) start a new follower
            following.discard(run_id)
            ended.add(run_id)

    with registry.watch() as watch:
        async with anyio.create_task_group() as group:

            def start(run_id: str, going: bool = True) -> None:
                if run_id in following or not (going or run_id not in ended):
                    return
                if only is not None and run_id != only:
                    return
                try:
                    out = send.clone()
                except anyio.ClosedResourceError:  # the stream is ending
                    return
                following.add(run_id)
                ended.discard(run_id)
                group.start_soon(follow, run_id, out)

            async def sender() -> None:
                nonlocal left
                async with receive:
                    try:
                        async for message in receive:
                            await websocket.send_text(message)
                    except (WebSocketDisconnect, OSError):  # the client left under a send
                        left = True
                        group.cancel_scope.cancel()

            async def from_store(store: RunStore) -> None:
                try:
                    await discover_runs(store, since, start)
                except FlowloomError as exc:  # the store failed: this server's own runs still come
                    logger.error("every-run stream stopped reading the store's runs: %s", exc)

            group.start_soon(sender)
            if registry.engine.store is not None:
                group.start_soon(from_store, registry.engine.store)
            async with send:
                async for run_id in watch.runs:
                    start(run_id)
            # the watch ended: the server is shutting down, or the client fell behind
            group.cancel_scope.cancel()
    if left:
        return None
    return _CLOSE_BEHIND if watch.dropped else _CLOSE_SHUTDOWN


async def serve_socket(
    websocket: WebSocket, send_events: Callable[[], Awaitable[tuple[int, str] | None]]
) -> None:
    """Run ``send_events()`` (which returns the close code and reason) while watching for the client to
    leave, then close the socket."""
    outcome: tuple[int, str] | None = None
    async with anyio.create_task_group() as group:

        async def watch_client() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            group.cancel_scope.cancel()  # the client left: stop sending

        group.start_soon(watch_client)
        try:
            outcome = await send_events()
        except (WebSocketDisconnect, OSError):  # the client left under a send
            outcome = None
        group.cancel_scope.cancel()
    if outcome is not None:
        try:
            await websocket.close(*outcome)
        except (WebSocketDisconnect, OSError):  # it left just before
            pass
