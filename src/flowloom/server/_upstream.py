"""Upstream flowgram's procedures (``/info``, ``/task/run``, ...) and their REST routes under ``/api``.

The procedures are shared with tRPC (``_trpc.py``): the same inputs, checks and outputs on both doors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, RootModel
from starlette.responses import Response

from flowloom._version import __version__
from flowloom.engine import InvalidWorkflowError
from flowloom.ir import Report, js_plain

from ._errors import UNDEFINED, ApiError, InputInvalid, empty_response, json_response, read_json, zod_issues
from ._registry import RunRegistry, request_document

Kind = Literal["query", "mutation"]

_RUN_SHAPE = {"schema": "string", "inputs": "object"}
_TASK_SHAPE = {"taskID": "string"}
_NOT_JSON_PREFIX = "schema is not valid JSON: "
CANCEL_WAIT_S = 2.0  # a cancel answers once the run has stopped, or after this long


class TaskRunInput(BaseModel):
    workflow_schema: str = Field(alias="schema", description="The workflow JSON, as text.")
    inputs: dict[str, Any] = Field(description="The workflow's inputs.")


class TaskIdInput(BaseModel):
    task_id: str = Field(alias="taskID")


class TaskRunOutput(BaseModel):
    task_id: str = Field(alias="taskID")


class TaskCancelOutput(BaseModel):
    success: bool = Field(description="False only for an unknown task.")


class TaskValidateOutput(BaseModel):
    valid: bool
    errors: list[str] | None = None


class TaskResultOutput(RootModel[dict[str, Any]]):
    """The outputs of a finished task (an empty body while it runs, or for an unknown task)."""


class InfoOutput(BaseModel):
    name: str
    title: str
    description: str
    runtime: str
    version: str
    time: str


class ErrorOutput(BaseModel):
    message: str
    code: str
    issues: list[dict[str, Any]] | None = None


def server_info() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "name": "flowloom",
        "title": "flowloom",
        "description": "flowloom workflow runtime: the flowgram.ai runtime API, a runs API and live events",
        "runtime": "python",
        "version": __version__,
        "time": now,
    }


def _checked(shape: dict[str, str], value: Any) -> dict[str, Any]:
    issues = zod_issues(shape, value)
    if issues:
        raise InputInvalid(issues)
    assert isinstance(value, dict)
    return value


def invalid_json_error(exc: InvalidWorkflowError, what: str = "schema") -> ApiError:
    reasons = [e.removeprefix(_NOT_JSON_PREFIX) for e in exc.errors] or [str(exc)]
    return ApiError(400, "BAD_REQUEST", f"Invalid {what} JSON: {'; '.join(reasons)}")


class Procedures:
    """Upstream's router: each procedure takes the raw input and returns its output, ``None`` for
    "returns nothing", or raises ``ApiError``."""

    def __init__(self, registry: RunRegistry) -> None:
        self.registry = registry
        self.table: dict[str, tuple[Kind, Callable[[Any], Awaitable[Any]]]] = {
            "/info": ("query", self.info),
            "/task/report": ("query", self.task_report),
            "/task/result": ("query", self.task_result),
            "/task/run": ("mutation", self.task_run),
            "/task/cancel": ("mutation", self.task_cancel),
            "/task/validate": ("mutation", self.task_validate),
        }
        # flowloom also takes the dot names tRPC clients build from nested routers.
        self.aliases = {name.strip("/").replace("/", "."): name for name in self.table}

    def lookup(self, name: str, kind: Kind) -> Callable[[Any], Awaitable[Any]] | None:
        found = self.table.get(self.aliases.get(name, name))
        return found[1] if found is not None and found[0] == kind else None

    async def info(self, value: Any) -> Any:
        return server_info()

    async def task_run(self, value: Any) -> Any:
        args = _checked(_RUN_SHAPE, value)
        try:
            run = self.registry.start(args["schema"], args["inputs"])
        except InvalidWorkflowError as exc:
            raise invalid_json_error(exc) from exc
        return {"taskID": run.id}

    async def task_report(self, value: Any) -> Any:
        task_id = _checked(_TASK_SHAPE, value)["taskID"]
        entry = self.registry.get(task_id)
        if entry is not None and not entry.run.done:
            return entry.run.report().to_json()
        # ended here (then perhaps resumed by another process), or recorded by another process: the store
        report = await self.registry.engine.stored_report(task_id)
        if report is None and entry is not None:
            report = entry.run.report()
        return None if report is None else report.to_json()

    async def task_result(self, value: Any) -> Any:
        task_id = _checked(_TASK_SHAPE, value)["taskID"]
        entry = self.registry.get(task_id)
        if entry is not None and not entry.run.done:
            return None
        store = self.registry.engine.store
        row = await store.get_run(task_id) if store is not None else None
        if row is not None:
            return js_plain(row.outputs or {}) if row.status.terminated else None
        return None if entry is None else js_plain(entry.run.outputs)

    async def task_cancel(self, value: Any) -> Any:
        task_id = _checked(_TASK_SHAPE, value)["taskID"]
        entry = self.registry.get(task_id)
        if entry is not None and not entry.run.done:
            entry.run.cancel()
            with anyio.move_on_after(CANCEL_WAIT_S):
                await entry.run.join()
            return {"success": True}
        engine = self.registry.engine
        row = await engine.store.get_run(task_id) if engine.store is not None else None
        if row is None:
            return {"success": entry is not None}
        if not row.status.terminated:  # resumed in (or started by) another process
            await engine.cancel_recorded(task_id)
        return {"success": True}

    async def task_validate(self, value: Any) -> Any:
        args = _checked(_RUN_SHAPE, value)
        return self.registry.engine.validate(request_document(args["schema"]), args["inputs"]).to_json()


_Route = tuple[str, str, str, type[BaseModel] | None, type[BaseModel], str]
_ROUTES: tuple[_Route, ...] = (
    ("GET", "/api/info", "/info", None, InfoOutput, "Server info (flowloom: the same body as /info)."),
    ("POST", "/api/task/run", "/task/run", TaskRunInput, TaskRunOutput, "Start a task."),
    ("GET", "/api/task/report", "/task/report", TaskIdInput, Report, "A task's report (empty: unknown)."),
    ("GET", "/api/task/result", "/task/result", TaskIdInput, TaskResultOutput, "A finished task's outputs."),
    ("PUT", "/api/task/cancel", "/task/cancel", TaskIdInput, TaskCancelOutput, "Cancel a task."),
    ("POST", "/api/task/validate", "/task/validate", TaskRunInput, TaskValidateOutput, "Validate."),
)


def _endpoint(
    procedures: Procedures, name: str, from_query: bool
) -> Callable[[Request], Awaitable[Response]]:
    procedure = procedures.table[name][1]

    async def endpoint(request: Request) -> Response:
        value = dict(request.query_params) if from_query else await read_json(request)
        result = await procedure({} if value is UNDEFINED else value)
        return empty_response() if result is None else json_response(result)

    return endpoint


def _docs(method: str, model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {}
    schema = model.model_json_schema(by_alias=True)
    if method == "GET":
        return {
            "parameters": [
                {"name": key, "in": "query", "required": True, "schema": prop}
                for key, prop in schema["properties"].items()
            ]
        }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def upstream_router(procedures: Procedures) -> APIRouter:
    """``GET /info`` and the REST routes of upstream's router, under ``/api``."""
    router = APIRouter(tags=["flowgram REST"])
    errors: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}}
    router.add_api_route(
        "/info",
        _endpoint(procedures, "/info", True),
        methods=["GET"],
        response_model=None,
        responses={200: {"model": InfoOutput}},
        summary="Server info (never needs a token).",
        operation_id="server_info",
    )
    for method, path, name, model_in, model_out, summary in _ROUTES:
        router.add_api_route(
            path,
            _endpoint(procedures, name, method == "GET"),
            methods=[method],
            response_model=None,
            responses={200: {"model": model_out}, **errors},
            summary=summary,
            operation_id=name.strip("/").replace("/", "_"),
            openapi_extra=_docs(method, model_in),
        )
    return router
