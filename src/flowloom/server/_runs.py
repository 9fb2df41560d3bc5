"""flowloom's own runs API under ``/api/v1``: runs, node types, and live events (Server-Sent Events per
run, a WebSocket for every run or one)."""

from __future__ import annotations

import datetime as dt
import inspect
import sys
from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, WebSocket
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from flowloom.engine import (
    Engine,
    FlowloomError,
    InvalidWorkflowError,
    NodeExecutor,
    Run,
    metadata_of,
    traits_of,
)
from flowloom.formats import read_document
from flowloom.ir import RunRow, Status, WaitError, WaitKeyRequired, WaitRow

from ._errors import ApiError, InputInvalid, json_response, not_found, read_json, zod_issues
from ._eventfilters import EXCLUDE_HELP, NODE_HELP, TYPES_HELP, event_query, socket_event_query
from ._listing import run_page, run_query
from ._registry import RunRegistry, request_document
from ._streams import Dialect, every_run, one_run, serve_socket, sse_frames
from ._upstream import CANCEL_WAIT_S, ErrorOutput, invalid_json_error

_START_SHAPE = {"workflow": "object | string", "inputs": "object"}


class RunSummary(BaseModel):
    id: str
    status: Status
    created_at: str
    started_at: str | None
    ended_at: str | None
    error: str | None
    workflow_hash: str | None = None
    parent_run_id: str | None = None


class RunList(BaseModel):
    runs: list[RunSummary]
    total: int
    counts: dict[str, int] = {}
    next: str | None = None
    limit: int
    offset: int


class RunDetail(RunSummary):
    report: dict[str, Any]


class ResumeRunInput(BaseModel):
    payload: Any = None
    key: str | None = None
    from_nodes: list[str] | None = None


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


def _node_type(executor: NodeExecutor) -> dict[str, Any]:
    """A node type as listed: its type, doc, declared traits (each one a key), its metadata (category,
    description, config keys, ports), and schemas if it has any."""
    cls = type(executor)
    doc = cls.__doc__ or getattr(sys.modules.get(cls.__module__), "__doc__", None) or ""
    found: dict[str, Any] = {"type": executor.type, "doc": inspect.cleandoc(doc)}
    found.update(asdict(traits_of(executor)))
    found.update(metadata_of(executor).to_json())
    for key in ("input_schema", "output_schema"):
        schema = getattr(executor, key, None)
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            found[key] = schema.model_json_schema()
        elif isinstance(schema, Mapping):
            found[key] = dict(schema)
    return found


def runs_router(
    registry: RunRegistry, engine: Engine, dialects: Mapping[str, Dialect] | None = None
) -> APIRouter:
    """The runs API, node types and event streams. With a store, what a run is (status, times, error,
    report) is read from it: another process may have resumed or canceled a run this server started.
    ``dialects``: the other languages the streams speak (``?dialect=<name>``; default flowloom's)."""
    spoken: Mapping[str, Dialect] = dialects or {}

    def dialect_of(name: str | None) -> Dialect | None:
        if name is None or name in ("", "flowloom"):
            return None
        found = spoken.get(name)
        if found is None:
            known = ", ".join(["flowloom", *sorted(spoken)])
            raise ApiError(400, "BAD_REQUEST", f"unknown dialect {name!r}: one of {known}")
        return found

    router = APIRouter(
        prefix="/api/v1", tags=["runs"], responses={400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}}
    )

    def summary(run: Run) -> dict[str, Any]:
        """A run of the registry that the store does not hold (yet, or the engine has none)."""
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

    def stored_summary(row: RunRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "status": str(row.status),
            "created_at": _iso(row.created_at),
            "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at),
            "error": row.error,
            "workflow_hash": row.workflow_hash,
            "parent_run_id": row.parent_run_id,
        }

    async def stored_row(run_id: str) -> RunRow | None:
        return await engine.store.get_run(run_id) if engine.store is not None else None

    async def current(run_id: str) -> dict[str, Any]:
        """A run's summary: the store's row, else (not recorded yet, or no store) the registry's handle."""
        row = await stored_row(run_id)
        if row is not None:
            return stored_summary(row)
        entry = registry.get(run_id)
        if entry is None:
            raise not_found(f"Run {run_id!r} not found")
        return summary(entry.run)

    @router.get(
        "/runs", response_model=None, responses={200: {"model": RunList}}, summary="Runs, newest first."
    )
    async def list_runs(
        status: Annotated[
            list[str] | None, Query(description="Only runs with one of these statuses (repeat, or commas).")
        ] = None,
        workflow: Annotated[str | None, Query(description="Only runs of this workflow (its hash).")] = None,
        created_from: Annotated[
            str | None, Query(alias="from", description="Created at or after (ISO 8601 or epoch seconds).")
        ] = None,
        created_to: Annotated[str | None, Query(alias="to", description="Created before this time.")] = None,
        q: Annotated[str | None, Query(description="Text in the run's id or inputs.")] = None,
        before: Annotated[str | None, Query(description="A page's `next` cursor: the runs after it.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> Response:
        query = run_query(
            statuses=status,
            workflow=workflow,
            created_from=created_from,
            created_to=created_to,
            text=q,
            before=before,
        )
        store = engine.store
        if store is not None:  # the history: what this server ran, before a restart too, and other processes
            return json_response(await run_page(store, query, limit, offset, stored_summary))
        kept = [e for e in registry.runs() if not q or q in e.run.id]  # no store: what this server ran
        counts: dict[str, int] = {}
        for e in kept:
            counts[str(e.run.status)] = counts.get(str(e.run.status), 0) + 1
        entries = [e for e in kept if not query.statuses or e.run.status in query.statuses]
        page = [summary(e.run) for e in entries[offset : offset + limit]]
        found = {"runs": page, "total": len(entries), "counts": counts, "next": None}
        return json_response({**found, "limit": limit, "offset": offset})

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
        await run.recorded()  # in the store before the answer: any server sharing it then knows the run
        return json_response(summary(run), 201, {"Location": f"/api/v1/runs/{run.id}"})

    async def waits_of(run_id: str, run: Run | None = None) -> list[dict[str, Any]]:
        """A run's waits (open and answered, with their payloads), from the store."""
        found: list[WaitRow] = await engine.store.get_waits(run_id) if engine.store is not None else []
        if not found and run is not None:
            found = run.waits
        return [{**wait.to_json(), "payload": wait.payload} for wait in found]

    @router.get("/runs/{run_id}", response_model=None, responses={200: {"model": RunDetail}})
    async def get_run(run_id: str) -> Response:
        """A run, its waits and its report (upstream's ``IReport``)."""
        found = await current(run_id)
        entry = registry.get(run_id)
        report = await engine.stored_report(run_id) if engine.store is not None else None
        if report is None and entry is not None:
            report = entry.run.report()
        waits = await waits_of(run_id, entry.run if entry is not None else None)
        return json_response(
            {**found, "waits": waits, "report": report.to_json() if report is not None else None}
        )

    @router.post(
        "/runs/{run_id}/resume",
        response_model=None,
        responses={200: {"model": RunSummary}, 404: {"model": ErrorOutput}, 409: {"model": ErrorOutput}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ResumeRunInput.model_json_schema()}},
            }
        },
        summary="Answer a waiting run's wait, resume a failed run, or run it again from nodes.",
    )
    async def resume_run(request: Request, run_id: str) -> Response:
        """``{"payload": <any JSON>, "key": "<wait key>"}`` (``key`` may be left out when the run waits on
        one key). Without a payload: ``{}`` resumes a failed, canceled or interrupted run in place (its
        succeeded nodes kept); ``{"from_nodes": [ids]}`` starts a new run (its parent: this one) that runs
        those nodes and everything downstream again. 404: no such run; 409: the run is not waiting (another
        answer won, it ended), the key is stale, or there is nothing to resume; 400: a bad body, or a key
        is needed."""
        body = await read_json(request)
        if not isinstance(body, dict) or ("key" in body and "payload" not in body):
            raise ApiError(
                400, "BAD_REQUEST", 'the body must be a JSON object {"payload": ..., "key": "..."}'
            )
        if "payload" not in body:  # a failed or interrupted run goes on in place; from_nodes: a new run
            return json_response(await resume_without_answer(run_id, body))
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            raise ApiError(400, "BAD_REQUEST", f'"key" must be a string, got {type(key).__name__}')
        if engine.store is None:
            raise ApiError(409, "CONFLICT", "this server has no store: no run waits here")
        await current(run_id)  # 404 first
        try:
            run = await engine.resume(run_id, payload=body["payload"], key=key)
        except WaitKeyRequired as exc:
            raise ApiError(400, "BAD_REQUEST", str(exc)) from exc
        except WaitError as exc:
            raise ApiError(409, "CONFLICT", str(exc)) from exc
        except FlowloomError as exc:
            raise ApiError(409, "CONFLICT", str(exc)) from exc
        registry.adopt(run)
        return json_response(summary(run))

    async def resume_without_answer(run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        from_nodes = body.get("from_nodes")
        if from_nodes is not None and (
            not isinstance(from_nodes, list)
            or not all(isinstance(n, str) for n in from_nodes)
            or not from_nodes
        ):
            raise ApiError(400, "BAD_REQUEST", '"from_nodes" must be a non-empty list of node ids')
        if engine.store is None:
            raise ApiError(409, "CONFLICT", "this server has no store: no run can be resumed here")
        await current(run_id)  # 404 first
        try:
            run = await engine.resume(run_id, from_nodes=from_nodes)
        except InvalidWorkflowError as exc:
            raise ApiError(400, "BAD_REQUEST", "; ".join(exc.errors)) from exc
        except FlowloomError as exc:
            raise ApiError(409, "CONFLICT", str(exc)) from exc
        registry.adopt(run)
        return summary(run)

    @router.post("/runs/{run_id}/cancel", response_model=None, responses={200: {"model": RunSummary}})
    async def cancel_run(run_id: str) -> Response:
        """Cancel a run; ``canceled`` is false when it had already ended."""
        entry = registry.get(run_id)
        if entry is not None and not entry.run.done:  # running here (perhaps not recorded yet)
            canceled = entry.run.cancel()
            with anyio.move_on_after(CANCEL_WAIT_S):
                await entry.run.join()
            return json_response({**await current(run_id), "canceled": canceled})
        row = await stored_row(run_id)
        if row is None:  # without a store: a run of the registry that had ended
            return json_response({**await current(run_id), "canceled": False})
        # running in another process (or left by a dead one), or resumed there: cancel through the store
        await engine.cancel_recorded(run_id)
        return json_response({**await current(run_id), "canceled": not row.status.terminated})

    async def exists(run_id: str) -> bool:
        return registry.get(run_id) is not None or await registry.events.get_run(run_id) is not None

    @router.get(
        "/runs/{run_id}/events", response_model=None, responses={200: {"content": {"text/event-stream": {}}}}
    )
    async def run_events(
        request: Request,
        run_id: str,
        last_event_id: Annotated[str | None, Query(description="Resume after this event.")] = None,
        dialect: Annotated[
            str | None, Query(description="`flowengine`: flowengine's event names and fields.")
        ] = None,
        types: Annotated[list[str] | None, Query(description=TYPES_HELP)] = None,
        exclude: Annotated[list[str] | None, Query(description=EXCLUDE_HELP)] = None,
        node: Annotated[str | None, Query(description=NODE_HELP)] = None,
    ) -> Response:
        """Server-Sent Events of a run, from its first recorded event (or after ``Last-Event-ID``) until it
        ends; a run executed by another process or before a restart too. Event ids are the ledger's
        sequence numbers. ``types``, ``exclude`` and ``node`` choose which events come (the store reads
        no others: ``?exclude=NodeLog`` never reads the run's log lines). ``?dialect=flowengine``: each
        event as ``flowloom run --jsonl`` prints it for a flowengine workflow (events it has no name for are
        left out)."""
        after = _event_id(request.headers.get("last-event-id", last_event_id))
        speaking = dialect_of(dialect)
        query = event_query(types, exclude, node)
        if not await exists(run_id):
            raise not_found(f"Run {run_id!r} not found")
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            sse_frames(registry, run_id, after, query, speaking),
            media_type="text/event-stream",
            headers=headers,
        )

    @router.get("/nodes", response_model=None, responses={200: {"model": NodeList}})
    async def node_types() -> Response:
        """The node types this server runs."""
        return json_response({"nodes": [_node_type(executor) for executor in engine.nodes]})

    @router.websocket("/events")
    async def events(websocket: WebSocket) -> None:
        """Events as JSON messages ``{seq, run_id, type, data}`` (``seq``: the ledger's): with ``?run_id=``,
        of one run from its first recorded event (or after ``?last_event_id=``) until it ends, wherever it
        runs (``types``, ``exclude``, ``node``: which events, as for SSE); without, of every run in the
        store (or, with no store, that this server executes), from now on. ``?dialect=flowengine``:
        flowengine's event JSON instead (as ``flowloom run --jsonl`` prints it)."""
        await websocket.accept()
        params = websocket.query_params
        run_id = params.get("run_id") or None
        try:
            after = _event_id(params.get("last_event_id"))
            speaking = dialect_of(params.get("dialect"))
            query = socket_event_query(params.getlist("types"), params.getlist("exclude"), params.get("node"))
        except ApiError as exc:
            await websocket.close(1008, exc.message)
            return
        if run_id is None:
            await serve_socket(websocket, lambda: every_run(websocket, registry, query, speaking))
            return
        if not await exists(run_id):
            await websocket.close(4404, f"Run {run_id!r} not found")
            return
        await serve_socket(websocket, lambda: one_run(websocket, registry, run_id, after, query, speaking))

    return router
