"""The runs API's additions for the dashboard: the workflows the store has seen (each with the schema of
its start node's outputs, which are a run's inputs), starting a run of one, re-running a run with the same
inputs, and a node's log lines (the newest first, then earlier pages, or all as text)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from flowloom.engine import Engine, InvalidWorkflowError
from flowloom.ir import LOG_EVENT, EventQuery, EventRow, Json, RunStore

from ._errors import ApiError, json_response, not_found, read_json
from ._live import live_frames
from ._registry import RunRegistry
from ._upstream import ErrorOutput

_LOG_TYPES = frozenset({LOG_EVENT})
_DOWNLOAD_PAGE = 5000  # lines per read of a download


def _line(row: EventRow) -> dict[str, Any]:
    data = row.data if isinstance(row.data, dict) else {}
    return {
        "seq": row.seq,
        "node_id": data.get("node_id"),
        "stream": data.get("stream"),
        "line": data.get("line"),
    }


async def _log_text(store: RunStore, run_id: str, node: str | None) -> AsyncIterator[bytes]:
    """Every log line of the run (of ``node``), a page of lines at a time, in order."""
    after = 0
    while True:
        query = EventQuery(types=_LOG_TYPES, node_id=node, after=after)
        rows = await store.query_events(run_id, query, _DOWNLOAD_PAGE)
        if rows:
            yield "".join(f"{_line(row)['line']}\n" for row in rows).encode()
            after = rows[-1].seq
        if len(rows) < _DOWNLOAD_PAGE:
            return


def _file_name(text: str) -> str:
    """A download's file name: the run (and node) id, with nothing a header or a file system minds."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:200]


def _start_schema(document: Json) -> dict[str, Any]:
    """What a run of a stored workflow takes: its start node's outputs schema (``{}`` when none)."""
    for node in document.get("nodes", []) if isinstance(document, dict) else []:
        if isinstance(node, dict) and node.get("type") == "start":
            schema = node.get("outputs")
            return schema if isinstance(schema, dict) else {}
    return {}


def _title(document: Json, digest: str) -> str:
    for node in document.get("nodes", []) if isinstance(document, dict) else []:
        if isinstance(node, dict) and node.get("type") == "start" and node.get("title"):
            return str(node["title"])
    return digest[:12]


def workflows_router(registry: RunRegistry, engine: Engine) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1",
        tags=["workflows"],
        # 409: a server without a store keeps no workflows or history
        responses={400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}, 409: {"model": ErrorOutput}},
    )

    def store() -> RunStore:
        if engine.store is None:
            raise ApiError(409, "CONFLICT", "this server has no store: it keeps no workflows or history")
        return engine.store

    async def document_of(digest: str) -> Json:
        document = await store().get_workflow(digest)
        if document is None:
            raise not_found(f"Workflow {digest!r} not found")
        return document

    async def start(digest: str, inputs: Any, metadata: dict[str, Any]) -> Response:
        if not isinstance(inputs, dict):
            raise ApiError(400, "BAD_REQUEST", f'"inputs" must be a JSON object, got {type(inputs).__name__}')
        try:
            compiled = engine.load(await document_of(digest), format="flowloom")
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
        run = registry.start(compiled, inputs)
        return json_response(
            {"id": run.id, "status": str(run.status), **metadata}, 201, {"Location": f"/api/v1/runs/{run.id}"}
        )

    @router.get(
        "/workflows",
        response_model=None,
        summary="The workflows runs were started with (by hash), and the saved ones (by id, under saved).",
    )
    async def list_workflows(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
        found = []
        saved = [
            {
                "id": d.id,
                "name": d.name,
                "format": d.format,
                "created_at": d.created_at,
                "updated_at": d.updated_at,
            }
            for d in await store().list_definitions(limit)
        ]
        for seen in await store().list_workflows(limit):
            document = await store().get_workflow(seen.hash)
            found.append(
                {
                    "hash": seen.hash,
                    "title": _title(document, seen.hash),
                    "runs": seen.runs,
                    "last_run_at": seen.last_run_at,
                    "input_schema": _start_schema(document),
                }
            )
        return json_response({"workflows": found, "saved": saved})

    @router.get("/workflows/{digest}", response_model=None, summary="A stored workflow (flowloom JSON).")
    async def get_workflow(digest: str) -> Response:
        """A workflow runs were started with (by its hash), else a saved workflow (by its id)."""
        document = await store().get_workflow(digest)
        if document is None:
            saved = await store().get_definition(digest)
            if saved is None:
                raise not_found(f"Workflow {digest!r} not found")
            found = {"id": saved.id, "name": saved.name, "format": saved.format, "workflow": saved.document}
            return json_response({**found, "created_at": saved.created_at, "updated_at": saved.updated_at})
        return json_response(
            {
                "hash": digest,
                "title": _title(document, digest),
                "input_schema": _start_schema(document),
                "workflow": document,
            }
        )

    @router.post("/workflows/{digest}/runs", status_code=201, response_model=None)
    async def start_workflow(request: Request, digest: str) -> Response:
        """Start a run of a stored workflow: ``{"inputs": {...}}``."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "BAD_REQUEST", 'the body must be a JSON object {"inputs": {...}}')
        return await start(digest, body.get("inputs", {}), {})

    @router.post("/runs/{run_id}/rerun", status_code=201, response_model=None)
    async def rerun(run_id: str) -> Response:
        """Start a new run of a run's workflow with the same inputs."""
        if await store().get_run(run_id) is None:
            raise not_found(f"Run {run_id!r} not found")
        try:  # the workflow and inputs as they were, secrets included (the stored ones show ***)
            compiled, inputs = await engine.recorded_start(run_id)
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
        run = registry.start(compiled, inputs)
        return json_response(
            {"id": run.id, "status": str(run.status), "rerun_of": run_id},
            201,
            {"Location": f"/api/v1/runs/{run.id}"},
        )

    @router.get("/runs/{run_id}/logs", response_model=None)
    async def logs(
        run_id: str,
        node: Annotated[str | None, Query(description="Only this node's lines.")] = None,
        before: Annotated[int | None, Query(ge=1, description="Lines of events before this seq.")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        download: Annotated[bool, Query(description="Every line as a text file.")] = False,
    ) -> Response:
        """A run's log lines, the newest ``limit`` (before the event ``before``) as ``{lines: [{seq,
        node_id, stream, line}], earlier}`` (``earlier``: the ``before`` of the page before, ``None`` at
        the first line); with ``download``, all of them as text, streamed. A node's lines are read through
        the store's index of them, a page at a time."""
        runs = store()
        if await runs.get_run(run_id) is None:
            raise not_found(f"Run {run_id!r} not found")
        if download:
            name = _file_name(f"{run_id}-{node}" if node else run_id)
            return StreamingResponse(
                _log_text(runs, run_id, node),
                media_type="text/plain; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.log"'},
            )
        query = EventQuery(types=_LOG_TYPES, node_id=node, before=before, newest=True)
        found = await runs.query_events(run_id, query, limit + 1)  # one more: are there earlier lines?
        page = [_line(row) for row in found[-limit:]]
        earlier = page[0]["seq"] if len(found) > limit else None
        return json_response({"lines": page, "earlier": earlier})

    @router.get("/runs/{run_id}/live", response_model=None)
    async def live(run_id: str) -> Response:
        """Server-Sent Events of a run's live-only events (``LLMDelta`` tokens, ``NodeProgress``), which the
        ledger does not keep, from now on while this server executes the run; 404 when it does not."""
        entry = registry.get(run_id)
        if entry is None or entry.run.done:
            raise not_found(f"Run {run_id!r} is not running on this server")
        run = entry.run
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        frames = live_frames(registry.live, run_id, lambda: not run.done)
        return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

    return router
