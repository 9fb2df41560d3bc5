"""The runs API's additions for the dashboard: the workflows the store has seen (each with the schema of
its start node's outputs, which are a run's inputs), starting a run of one, re-running a run with the same
inputs, and a node's log lines (the newest first, then earlier pages, or all as text)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from flowloom.engine import Engine, InvalidWorkflowError
from flowloom.ir import Json, RunStore

from ._errors import ApiError, json_response, not_found, read_json
from ._live import live_frames
from ._registry import RunRegistry
from ._upstream import ErrorOutput

_LOG_EVENT = "NodeLog"


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

    @router.get("/workflows", response_model=None, summary="The workflows runs were started with.")
    async def list_workflows(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
        found = []
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
        return json_response({"workflows": found})

    @router.get("/workflows/{digest}", response_model=None, summary="A stored workflow (flowloom JSON).")
    async def get_workflow(digest: str) -> Response:
        document = await document_of(digest)
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
        the first line); with ``download``, all of them as text."""
        if await store().get_run(run_id) is None:
            raise not_found(f"Run {run_id!r} not found")
        lines = [
            {"seq": row.seq, "node_id": row.data.get("node_id"), "stream": row.data.get("stream"),
             "line": row.data.get("line")}
            for row in await store().get_events(run_id)
            if row.type == _LOG_EVENT and isinstance(row.data, dict)
            and (node is None or row.data.get("node_id") == node)
            and (before is None or row.seq < before)
        ]  # fmt: skip
        if download:
            text = "".join(f"{line['line']}\n" for line in lines)
            name = f"{run_id}{'-' + node if node else ''}.log"
            return Response(
                text, media_type="text/plain; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )  # fmt: skip
        page = lines[-limit:]
        earlier = page[0]["seq"] if len(lines) > len(page) else None
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
