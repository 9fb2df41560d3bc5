"""Saving workflows with triggers, and the triggers that arrive over HTTP.

- ``POST /api/v1/workflows`` ``{"workflow": <document of any format>, "id"?, "name"?, "format"?}`` saves a
  workflow (``RunStore.save_definition``; a webhook secret is kept only as its digest); ``DELETE
  /api/v1/workflows/{id}`` forgets it; ``GET /api/v1/triggers`` lists every saved trigger.
- ``POST /hooks/{path}``: a webhook; the JSON body is the run's inputs; answers the run id (201). A webhook
  with a secret wants it in ``X-Flowloom-Secret``; one without follows the server's bearer token, if any.
- ``POST /api/v1/events/{type}``: starts every saved workflow listening for the event.
- ``POST /api/v1/workflows/{id}/trigger`` ``{"inputs": {...}}``: starts one run by hand (manual)."""

from __future__ import annotations

import hmac
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowloom.engine import CompiledWorkflow, Engine, InvalidWorkflowError
from flowloom.formats import read_document, seal_secrets
from flowloom.ir import JsonText, RunStore, WorkflowDefinition, secret_digest

from ._errors import UNDEFINED, ApiError, json_response, not_found, read_json
from ._registry import RunRegistry
from ._trigger_book import SavedTrigger, TriggerBook
from ._upstream import ErrorOutput

SECRET_HEADER = "x-flowloom-secret"
HOOKS_PREFIX = "/hooks/"
MAX_ID = 256


def triggers_router(registry: RunRegistry, engine: Engine, book: TriggerBook, token: str | None) -> APIRouter:
    router = APIRouter(
        tags=["triggers"],
        responses={400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}, 409: {"model": ErrorOutput}},
    )

    def store() -> RunStore:
        if engine.store is None:
            raise ApiError(
                409, "CONFLICT", "this server has no store: it keeps no saved workflows or triggers"
            )
        return engine.store

    def trigger_book() -> TriggerBook:
        store()  # 409 without one
        return book

    def start(
        saved: SavedTrigger | None, compiled: CompiledWorkflow, inputs: Any, meta: dict[str, Any]
    ) -> str:
        return registry.start(compiled, inputs, metadata=saved.metadata(**meta) if saved else meta).id

    @router.post("/api/v1/workflows", status_code=201, response_model=None, summary="Save a workflow.")
    async def save_workflow(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or "workflow" not in body:
            raise ApiError(
                400, "BAD_REQUEST", 'the body must be {"workflow": <document>, "id"?, "name"?, "format"?}'
            )
        document, workflow_id, name, fmt = _saving(body)
        try:
            compiled = engine.load(document, format=fmt)
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
        workflow_id = workflow_id or _document_id(document) or str(uuid.uuid4())
        hooks = [t for t in await trigger_book().triggers() if t.trigger.kind == "webhook"]
        taken = {t.trigger.path: t.workflow_id for t in hooks if t.trigger.kind == "webhook"}
        for trigger in compiled.workflow.triggers:
            if trigger.kind == "webhook" and taken.get(trigger.path, workflow_id) != workflow_id:
                owner = taken[trigger.path]
                raise ApiError(
                    409, "CONFLICT", f'webhook path "{trigger.path}" is taken by workflow "{owner}"'
                )
        now = time.time()
        saved = await store().save_definition(
            WorkflowDefinition(
                id=workflow_id,
                name=name or compiled.workflow.name or workflow_id,
                document=seal_secrets(document),
                format=fmt,
                created_at=now,
                updated_at=now,
            )
        )
        triggers = [t.spec() for t in await trigger_book().triggers() if t.workflow_id == saved.id]
        answer = {"id": saved.id, "name": saved.name, "format": saved.format, "triggers": triggers}
        return json_response(answer, 201, {"Location": f"/api/v1/workflows/{saved.id}"})

    @router.delete("/api/v1/workflows/{workflow_id}", status_code=204, response_model=None)
    async def delete_workflow(workflow_id: str) -> Response:
        """Forget a saved workflow and its triggers (its runs are kept)."""
        if not await store().delete_definition(workflow_id):
            raise not_found(f"Saved workflow {workflow_id!r} not found")
        return Response(status_code=204)

    @router.get("/api/v1/triggers", response_model=None, summary="The triggers of every saved workflow.")
    async def list_triggers() -> Response:
        last = await store().last_trigger_fires()
        now = time.time()
        listed = [t.listing(last.get((t.workflow_id, t.key)), now) for t in await trigger_book().triggers()]
        return json_response({"triggers": listed})

    @router.post("/api/v1/workflows/{workflow_id}/trigger", status_code=201, response_model=None)
    async def trigger_by_hand(request: Request, workflow_id: str) -> Response:
        """Start one run of a saved workflow: ``{"inputs": {...}}`` (a manual trigger)."""
        body = await read_json(request)
        body = {} if body is UNDEFINED else body
        if not isinstance(body, dict):
            raise ApiError(400, "BAD_REQUEST", 'the body must be a JSON object {"inputs": {...}}')
        inputs = _inputs(body.get("inputs", {}), '"inputs"')
        try:
            found = await trigger_book().workflow(workflow_id)
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
        if found is None:
            raise not_found(f"Saved workflow {workflow_id!r} not found")
        meta = {"trigger": {"workflow_id": workflow_id, "kind": "manual"}}
        run_id = start(None, found[1], inputs, meta)
        return json_response(
            {"id": run_id, "workflow_id": workflow_id}, 201, {"Location": f"/api/v1/runs/{run_id}"}
        )

    @router.post(
        "/api/v1/events/{event_type}", response_model=None, summary="Start every listener of an event."
    )
    async def post_event(request: Request, event_type: str) -> Response:
        inputs = _inputs(await read_json(request), "the body")
        listeners = [
            t
            for t in await trigger_book().triggers()
            if t.trigger.kind == "event" and t.trigger.enabled and t.trigger.type == event_type
        ]
        runs = [
            {"id": start(t, t.compiled, inputs, {"type": event_type}), "workflow_id": t.workflow_id}
            for t in listeners
        ]
        return json_response({"type": event_type, "runs": runs})

    @router.post(
        HOOKS_PREFIX + "{path:path}",
        status_code=201,
        response_model=None,
        summary="A webhook.",
        responses={401: {"model": ErrorOutput}},
    )
    async def webhook(request: Request, path: str) -> Response:
        path = path.strip("/")
        hooks = [
            t
            for t in await trigger_book().triggers()
            if t.trigger.kind == "webhook" and t.trigger.enabled and t.trigger.path == path
        ]
        if not hooks:
            raise not_found(f'no webhook listens on "{path}"')
        allowed = [t for t in hooks if _authorized(t, request, token)]
        if not allowed:
            raise ApiError(
                401, "UNAUTHORIZED", f'webhook "{path}": missing or wrong secret ({SECRET_HEADER})'
            )
        inputs = _inputs(await read_json(request), "the body")
        runs = [
            {"id": start(t, t.compiled, inputs, {"path": path}), "workflow_id": t.workflow_id}
            for t in allowed
        ]
        run_id = runs[0]["id"]
        return json_response({"id": run_id, "runs": runs}, 201, {"Location": f"/api/v1/runs/{run_id}"})

    return router


def _saving(body: dict[str, Any]) -> tuple[Any, str | None, str | None, str | None]:
    """The document, id, name and format a save request gives (a document may come as JSON text)."""
    document = body["workflow"]
    if isinstance(document, str):
        try:
            document = read_document(JsonText(document))[0]
        except InvalidWorkflowError as exc:
            raise ApiError(400, "INVALID_WORKFLOW", f"invalid workflow: {'; '.join(exc.errors)}") from exc
    picked = []
    for key in ("id", "name", "format"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_ID):
            raise ApiError(
                400, "BAD_REQUEST", f'"{key}" must be a non-empty string of at most {MAX_ID} characters'
            )
        picked.append(value)
    return document, picked[0], picked[1], picked[2]


def _document_id(document: Any) -> str | None:
    """A document's own id (flowengine's and VisualFlow's workflows have one)."""
    found = document.get("id") if isinstance(document, dict) else None
    return found if isinstance(found, str) and 0 < len(found) <= MAX_ID else None


def _inputs(value: Any, what: str) -> dict[str, Any]:
    if value is UNDEFINED:
        return {}
    if not isinstance(value, dict):
        raise ApiError(
            400, "BAD_REQUEST", f"{what} must be a JSON object (the run's inputs), got {type(value).__name__}"
        )
    return value


def _authorized(saved: SavedTrigger, request: Request, token: str | None) -> bool:
    """A webhook with a secret wants it in ``X-Flowloom-Secret``; one without, the server's token (if any)."""
    trigger = saved.trigger
    assert trigger.kind == "webhook"
    if trigger.secret_sha256 is not None:
        given = request.headers.get(SECRET_HEADER)
        return given is not None and hmac.compare_digest(secret_digest(given), trigger.secret_sha256)
    if token is None:
        return True
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())
