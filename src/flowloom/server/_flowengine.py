"""flowengine's REST API and event socket (allen-munsch/flowengine's ``flowserver``), beside flowloom's own:
``GET /health``, ``GET /api/nodes``, ``GET/POST /api/workflows``, ``GET/DELETE /api/workflows/{id}``,
``POST /api/workflows/{id}/execute``, ``POST /api/execute`` and the WebSocket ``/api/events``. Errors are
flowengine's ``{"error": "..."}``. Saved workflows live in the engine's store (``save_definition``), so
they survive a restart; a store-less server keeps them in memory. Runs go through the run registry like
any other: they are listed by ``/api/v1/runs`` and stream on its event routes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from starlette.responses import Response

from flowloom._version import __version__
from flowloom.engine import CompiledWorkflow, Engine, InvalidWorkflowError, Run, metadata_of
from flowloom.formats import default_formats, seal_secrets
from flowloom.formats.flowengine import FlowengineFormat, result_object
from flowloom.ir import RunStore, WorkflowDefinition
from flowloom.stores import MemoryStore

from ._errors import json_response
from ._flowengine_events import FlowengineDialect
from ._flowengine_models import (
    ANY_OBJECT,
    EXECUTE_BODY,
    EXECUTE_UNSAVED_BODY,
    WAIT_PARAMETER,
    CreatedOutput,
    FlowengineErrorOutput,
    HealthOutput,
    MessageOutput,
    NodeTypeInfo,
    ResultObject,
    StartedOutput,
    WorkflowSummary,
    json_body,
)
from ._registry import RunRegistry
from ._streams import every_run, one_run, serve_socket

_EXECUTE_SHAPE = '{"inputs": {...}}'
_EXECUTE_UNSAVED_SHAPE = '{"workflow": {...}, "inputs": {...}}'


class FlowengineError(Exception):
    """A refused request, answered as flowengine answers: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _refusal(exc: FlowengineError) -> Response:
    return json_response({"error": exc.message}, exc.status)


def _not_found(workflow_id: str) -> FlowengineError:
    return FlowengineError(404, f"Workflow {workflow_id} not found")


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FlowengineError(400, f"Request body is not JSON: {exc}") from None


def _inputs(body: Any) -> dict[str, Any]:
    """The run's inputs of an execute request: ``{"inputs": {...}}`` (an empty body: none)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise FlowengineError(400, f"The body must be a JSON object {_EXECUTE_SHAPE}")
    inputs = body.get("inputs", {})
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise FlowengineError(400, f'"inputs" must be a JSON object, got {type(inputs).__name__}')
    return inputs


def _wait(request: Request) -> bool:
    value = request.query_params.get("wait", "true").lower()
    if value not in ("true", "false", "1", "0"):
        raise FlowengineError(400, f"wait must be true or false, got {value!r}")
    return value in ("true", "1")


def _format_name(document: Any) -> str | None:
    """The built-in format that reads ``document`` (``None``: the engine's own formats decide)."""
    try:
        return default_formats().detect(document).name
    except InvalidWorkflowError:
        return None


def _summary(definition: WorkflowDefinition) -> dict[str, Any]:
    document = definition.document if isinstance(definition.document, Mapping) else {}
    nodes, connections = document.get("nodes"), document.get("connections")
    return {
        "id": definition.id,
        "name": definition.name,
        "description": document.get("description"),
        "nodes": len(nodes) if isinstance(nodes, list) else 0,
        "connections": len(connections) if isinstance(connections, list) else 0,
        "format": definition.format,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
    }


def flowengine_router(registry: RunRegistry, engine: Engine, dialect: FlowengineDialect) -> APIRouter:
    """flowengine's routes (see the module)."""
    router = APIRouter(tags=["flowengine"])
    refused: dict[int | str, dict[str, Any]] = {400: {"model": FlowengineErrorOutput}}
    missing: dict[int | str, dict[str, Any]] = {404: {"model": FlowengineErrorOutput}}
    executed: dict[int | str, dict[str, Any]] = {
        200: {"model": ResultObject},
        202: {"model": StartedOutput},
        **refused,
    }
    memory: list[RunStore] = []  # a store-less server's saved workflows

    def definitions() -> RunStore:
        if engine.store is not None:
            return engine.store
        if not memory:
            memory.append(MemoryStore())
        return memory[0]

    def checked(document: Any, workflow_format: str | None = None) -> tuple[CompiledWorkflow, str | None]:
        """The workflow compiled and its format's name, or a 400 naming every problem (node and field):
        what ``flowloom validate`` refuses is refused here too."""
        if not isinstance(document, dict):
            raise FlowengineError(400, "The workflow must be a JSON object")
        try:
            compiled = engine.load(document, format=workflow_format)
        except InvalidWorkflowError as exc:
            raise FlowengineError(400, f"Invalid workflow: {'; '.join(exc.errors)}") from None
        problems = engine.strict_errors(compiled)
        if problems:
            raise FlowengineError(400, f"Invalid workflow: {'; '.join(problems)}")
        return compiled, workflow_format or _format_name(document)

    async def execute(request: Request, document: Any, workflow_format: str | None, body: Any) -> Response:
        inputs = _inputs(body)
        wait = _wait(request)
        compiled, _format = checked(document, workflow_format)
        problems = engine.input_errors(compiled, inputs)
        if problems:
            raise FlowengineError(400, f"Invalid inputs: {'; '.join(problems)}")
        run = start(compiled, inputs)  # under RetryWorkflow, the engine starts a failed run over
        if not wait:
            await run.recorded()  # in the store before the answer: /api/v1/runs lists it
            return json_response(
                {"execution_id": run.id, "run_id": run.id, "status": str(run.status)},
                202,
                {"Location": f"/api/v1/runs/{run.id}"},
            )
        await run.join()
        return json_response(result_object(compiled.workflow, run))

    def start(compiled: CompiledWorkflow, inputs: dict[str, Any]) -> Run:
        run = registry.start(compiled, inputs)
        dialect.remember(run.id, compiled.workflow)
        return run

    @router.get(
        "/health",
        response_model=None,
        responses={200: {"model": HealthOutput}},
        summary="flowengine's health check (never needs a token).",
    )
    async def health() -> Response:
        return json_response({"status": "healthy", "version": __version__, "service": "flowloom"})

    @router.get(
        "/api/nodes",
        response_model=None,
        responses={200: {"model": list[NodeTypeInfo]}},
        summary="Every node type: type, category, description.",
    )
    async def nodes() -> Response:
        found = []
        for executor in engine.nodes:
            metadata = metadata_of(executor)
            found.append(
                {"type": executor.type, "category": metadata.category, "description": metadata.description}
            )
        return json_response(sorted(found, key=lambda node: node["type"]))

    @router.get(
        "/api/workflows",
        response_model=None,
        responses={200: {"model": list[WorkflowSummary]}},
        summary="Saved workflows (summaries), oldest first.",
    )
    async def list_workflows() -> Response:
        return json_response([_summary(d) for d in await definitions().list_definitions()])

    @router.post(
        "/api/workflows",
        status_code=201,
        response_model=None,
        responses={201: {"model": CreatedOutput}, **refused},
        openapi_extra=json_body(ANY_OBJECT),
        summary="Save a workflow (any format the engine reads) under its id, or a new one.",
    )
    async def create_workflow(request: Request) -> Response:
        try:
            document = await _body(request)
            _compiled, format_name = checked(document)
        except FlowengineError as exc:
            return _refusal(exc)
        given = document.get("id")
        workflow_id = given if isinstance(given, str) and given.strip() else str(uuid.uuid4())
        if format_name == FlowengineFormat.name:
            document = {**document, "id": workflow_id}
        name = document.get("name")
        now = time.time()
        await definitions().save_definition(
            WorkflowDefinition(
                id=workflow_id,
                name=name if isinstance(name, str) and name else workflow_id,
                document=seal_secrets(document),  # a webhook trigger's secret only as its digest
                format=format_name,
                created_at=now,
                updated_at=now,
            )
        )
        return json_response({"id": workflow_id, "message": "Workflow created successfully"}, 201)

    @router.get(
        "/api/workflows/{workflow_id}",
        response_model=None,
        responses={200: {"content": {"application/json": {"schema": ANY_OBJECT}}}, **missing},
        summary="A saved workflow, as it was given.",
    )
    async def get_workflow(workflow_id: str) -> Response:
        found = await definitions().get_definition(workflow_id)
        if found is None:
            return _refusal(_not_found(workflow_id))
        return json_response(found.document)

    @router.delete(
        "/api/workflows/{workflow_id}",
        response_model=None,
        responses={200: {"model": MessageOutput}, **missing},
        summary="Forget a saved workflow (its runs are kept).",
    )
    async def delete_workflow(workflow_id: str) -> Response:
        if not await definitions().delete_definition(workflow_id):
            return _refusal(_not_found(workflow_id))
        return json_response({"message": "Workflow deleted successfully"})

    @router.post(
        "/api/workflows/{workflow_id}/execute",
        response_model=None,
        responses={**executed, **missing},
        openapi_extra={**json_body(EXECUTE_BODY, required=False), "parameters": [WAIT_PARAMETER]},
        summary="Run a saved workflow: 200 the result object; ?wait=false: 202 with the run id at once.",
    )
    async def execute_saved(request: Request, workflow_id: str) -> Response:
        try:
            body = await _body(request)
            found = await definitions().get_definition(workflow_id)
            if found is None:
                raise _not_found(workflow_id)
            return await execute(request, found.document, found.format, body)
        except FlowengineError as exc:
            return _refusal(exc)

    @router.post(
        "/api/execute",
        response_model=None,
        responses=executed,
        openapi_extra={**json_body(EXECUTE_UNSAVED_BODY), "parameters": [WAIT_PARAMETER]},
        summary='Run a workflow without saving it: {"workflow": {...}, "inputs": {...}}, as execute does.',
    )
    async def execute_unsaved(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict) or not isinstance(body.get("workflow"), dict):
                raise FlowengineError(400, f"The body must be a JSON object {_EXECUTE_UNSAVED_SHAPE}")
            return await execute(request, body["workflow"], None, body)
        except FlowengineError as exc:
            return _refusal(exc)

    @router.websocket("/api/events")
    async def events(websocket: WebSocket) -> None:
        """flowengine's event JSON, one message per event (``--jsonl``'s lines): of every run this server
        executes, from now on; with ``?execution_id=<run id>``, of that run only: from its first event
        until it ends (then the socket closes, 1000) when it is known, else from when it starts."""
        await websocket.accept()
        run_id = websocket.query_params.get("execution_id") or None
        known = run_id is not None and (
            registry.get(run_id) is not None or await registry.events.get_run(run_id) is not None
        )
        if run_id is not None and known:
            await serve_socket(websocket, lambda: one_run(websocket, registry, run_id, 0, dialect=dialect))
            return
        await serve_socket(websocket, lambda: every_run(websocket, registry, dialect=dialect, only=run_id))

    return router
