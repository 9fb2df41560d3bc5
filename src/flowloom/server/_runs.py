"""flowloom's own runs API under ``/api/v1``: runs, node types, and live events (Server-Sent Events per
run, a WebSocket for every run or one)."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, WebSocket
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from flowloom import Engine, InvalidWorkflowError, Run, Status
from flowloom.formats import read_document
from flowloom.ir import RunFinished, RunRow, event_json

from ._errors import ApiError, InputInvalid, json_response, not_found, read_json, zod_issues
from ._registry import LedgerEntry, RunRegistry, Subscription, request_document
from ._upstream import CANCEL_WAIT_S, ErrorOutput, invalid_json_error

KEEPALIVE_S = 15.0
_KEEPALIVE = b": keep-alive\n\n"
_START_SHAPE = {"workflow": "object | string", "inputs": "object"}


class RunSummary(BaseModel):
    id: str
    status: Status
    created_at: str
    started_at: str | None
    ended_at: str | None
    error: str | None


class RunList(BaseModel):
    runs: list[RunSummary]
    total: int
    limit: int
    offset: int


class RunDetail(RunSummary):
    report: dict[str, Any]


class StartRunInput(BaseModel):
    workflow: dict[str, Any] | str
    inputs: dict[str, Any] = {}
    format: str | None = None


class NodeType(BaseModel):
    type: str
    doc: str
    entry: bool
    terminal: bool
    lightweight: bool
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


class NodeList(BaseModel):
    nodes: list[NodeType]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def sse_frame(entry: LedgerEntry) -> bytes:
    seq, event = entry
    return f"id: {seq}\nevent: {type(event).__name__}\ndata: {_dumps(event_json(event))}\n\n".encode()


def ws_message(entry: LedgerEntry) -> str:
    seq, event = entry
    return _dumps(
        {"seq": seq, "run_id": event.run_id, "type": type(event).__name__, "data": event_json(event)}
    )


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_id(text: str | None) -> int:
    if text is None or text == "":
        return 0
    if not text.isascii() or not text.isdigit():
        raise ApiError(400, "BAD_REQUEST", f"Last-Event-ID must be a non-negative integer, got {text!r}")
    return int(text)


def _node_type(executor: object) -> dict[str, Any]:
    cls = type(executor)
    doc = cls.__doc__ or getattr(sys.modules.get(cls.__module__), "__doc__", None) or ""
    found: dict[str, Any] = {
        "type": str(getattr(executor, "type", "")),
        "doc": inspect.cleandoc(doc),
        "entry": bool(getattr(executor, "entry", False)),
        "terminal": bool(getattr(executor, "terminal", False)),
        "lightweight": bool(getattr(executor, "lightweight", False)),
    }
    for key in ("input_schema", "output_schema"):
        schema = getattr(executor, key, None)
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            found[key] = schema.model_json_schema()
        elif isinstance(schema, Mapping):
            found[key] = dict(schema)
    return found


async def _sse(subscription: Subscription, after: int) -> AsyncIterator[bytes]:
    last = after
    for entry in subscription.backlog:
        yield sse_frame(entry)
        last = entry[0]
        if isinstance(entry[1], RunFinished):
            return
    if subscription.complete:
        return
    while True:
        entry_or_none: LedgerEntry | None = None
        with anyio.move_on_after(KEEPALIVE_S):
            try:
                entry_or_none = await subscription.stream.receive()
            except anyio.EndOfStream:  # dropped (too slow: the client resumes with Last-Event-ID) or closing
                return
        if entry_or_none is None:
            yield _KEEPALIVE
        elif entry_or_none[0] > last:
            yield sse_frame(entry_or_none)
            last = entry_or_none[0]
            if isinstance(entry_or_none[1], RunFinished):
                return


async def _pump(websocket: WebSocket, subscription: Subscription) -> tuple[int, str]:
    """Send events until the run ends (1000), the client falls behind (1013) or the server stops (1001)."""
    one_run = subscription.run_id is not None
    last = 0
    for entry in subscription.backlog:
        await websocket.send_text(ws_message(entry))
        last = entry[0]
        if isinstance(entry[1], RunFinished):
            return 1000, "run finished"
    if one_run and subscription.complete:
        return 1000, "run finished"
    async for entry in subscription.stream:
        if one_run and entry[0] <= last:
            continue
        await websocket.send_text(ws_message(entry))
        last = entry[0]
        if one_run and isinstance(entry[1], RunFinished):
            return 1000, "run finished"
    if subscription.dropped:
        return 1013, "too slow: events were dropped; reconnect with last_event_id"
    return 1001, "server shutting down"


def runs_router(registry: RunRegistry, engine: Engine) -> APIRouter:
    """The runs API, node types and event streams."""
    router = APIRouter(
        prefix="/api/v1", tags=["runs"], responses={400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}}
    )

    def summary(run: Run) -> dict[str, Any]:
        entry = registry.get(run.id)
        started, ended = registry.times(run.id)
        return {
            "id": run.id,
            "status": str(run.status),
            "created_at": _iso(entry.created_at if entry is not None else None),
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "error": run.error,
        }

    def known(run_id: str) -> Run:
        entry = registry.get(run_id)
        if entry is None:
            raise not_found(f"Run {run_id!r} not found")
        return entry.run

    def stored_summary(row: RunRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "status": str(row.status),
            "created_at": _iso(row.created_at),
            "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at),
            "error": row.error,
        }

    async def stored(run_id: str) -> RunRow:
        """A run the server does not hold in memory (before a restart, another process's) from the store."""
        row = await engine.store.get_run(run_id) if engine.store is not None else None
        if row is None:
            raise not_found(f"Run {run_id!r} not found")
        return row

    @router.get(
        "/runs", response_model=None, responses={200: {"model": RunList}}, summary="Runs, newest first."
    )
    async def list_runs(
        status: Annotated[Status | None, Query(description="Only runs with this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        store = engine.store
        if store is not None:  # the history: what this server ran, before a restart too, and other processes
            rows = await store.list_runs(status, limit, offset)
            live = [registry.get(row.id) for row in rows]
            page = [
                summary(e.run) if e is not None else stored_summary(r)
                for r, e in zip(rows, live, strict=True)
            ]
            total = await store.count_runs(status)
            return json_response({"runs": page, "total": total, "limit": limit, "offset": offset})
        entries = registry.runs(status)
        page = [summary(e.run) for e in entries[offset : offset + limit]]
        return json_response({"runs": page, "total": len(entries), "limit": limit, "offset": offset})

    @router.post(
        "/runs",
        status_code=201,
        response_model=None,
        responses={201: {"model": RunSummary}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": StartRunInput.model_json_schema()}},
            }
        },
        summary="Start a run: a workflow (object or JSON text; its format detected or named) and its inputs.",
    )
    async def start_run(request: Request) -> Response:
        body = await read_json(request)
        issues = zod_issues(_START_SHAPE, body, optional=frozenset({"inputs"}))
        if issues:
            raise InputInvalid(issues)
        workflow_format = body.get("format")
        if workflow_format is not None and not isinstance(workflow_format, str):
            raise ApiError(400, "BAD_REQUEST", "format must be a string naming a workflow format")
        try:
            document, _digest = read_document(request_document(body["workflow"]))
        except InvalidWorkflowError as exc:
            raise invalid_json_error(exc, "workflow") from exc
        try:
            compiled = engine.load(document, format=workflow_format)
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
        run = registry.start(compiled, body.get("inputs", {}))  # inputs that do not fit: a failed run
        return json_response(summary(run), 201, {"Location": f"/api/v1/runs/{run.id}"})

    @router.get("/runs/{run_id}", response_model=None, responses={200: {"model": RunDetail}})
    async def get_run(run_id: str) -> Response:
        """A run and its report (upstream's ``IReport``)."""
        entry = registry.get(run_id)
        if entry is not None:
            return json_response({**summary(entry.run), "report": entry.run.report().to_json()})
        row = await stored(run_id)
        report = await engine.stored_report(run_id)
        return json_response({**stored_summary(row), "report": report.to_json() if report else None})

    @router.post("/runs/{run_id}/cancel", response_model=None, responses={200: {"model": RunSummary}})
    async def cancel_run(run_id: str) -> Response:
        """Cancel a run; ``canceled`` is false when it had already ended."""
        entry = registry.get(run_id)
        if entry is None:  # running in another process (or left by a dead one): cancel through the store
            before = (await stored(run_id)).status
            await engine.cancel_recorded(run_id)
            return json_response({**stored_summary(await stored(run_id)), "canceled": not before.terminated})
        run = entry.run
        canceled = run.cancel()
        with anyio.move_on_after(CANCEL_WAIT_S):
            await run.join()
        return json_response({**summary(run), "canceled": canceled})

    @router.get(
        "/runs/{run_id}/events", response_model=None, responses={200: {"content": {"text/event-stream": {}}}}
    )
    async def run_events(
        request: Request,
        run_id: str,
        last_event_id: Annotated[str | None, Query(description="Resume after this event.")] = None,
    ) -> Response:
        """Server-Sent Events of a run, from its first event (or after ``Last-Event-ID``) to
        ``RunFinished``."""
        known(run_id)
        after = _event_id(request.headers.get("last-event-id", last_event_id))

        async def stream() -> AsyncIterator[bytes]:
            with registry.subscribe(run_id, after) as subscription:
                async for frame in _sse(subscription, after):
                    yield frame

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @router.get("/nodes", response_model=None, responses={200: {"model": NodeList}})
    async def node_types() -> Response:
        """The node types this server runs."""
        return json_response({"nodes": [_node_type(executor) for executor in engine.nodes]})

    @router.websocket("/events")
    async def events(websocket: WebSocket) -> None:
        """Events as JSON messages ``{seq, run_id, type, data}``: of every run from now on, or with
        ``?run_id=`` of one run from its start (or after ``?last_event_id=``) until it ends."""
        await websocket.accept()
        run_id = websocket.query_params.get("run_id") or None
        try:
            after = _event_id(websocket.query_params.get("last_event_id"))
        except ApiError as exc:
            await websocket.close(1008, exc.message)
            return
        if run_id is not None and registry.get(run_id) is None:
            await websocket.close(4404, f"Run {run_id!r} not found")
            return
        outcome: tuple[int, str] | None = None
        with registry.subscribe(run_id, after) as subscription:
            async with anyio.create_task_group() as group:

                async def watch_client() -> None:
                    while (await websocket.receive())["type"] != "websocket.disconnect":
                        pass
                    group.cancel_scope.cancel()  # the client left: stop sending

                group.start_soon(watch_client)
                try:
                    outcome = await _pump(websocket, subscription)
                except (WebSocketDisconnect, OSError):  # the client left under a send
                    outcome = None
                group.cancel_scope.cancel()
        if outcome is not None:
            try:
                await websocket.close(*outcome)
            except (WebSocketDisconnect, OSError):  # it left just before
                pass

    return router
