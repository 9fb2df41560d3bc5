"""The shapes of flowengine's REST API on flowloom, for its OpenAPI document (the routes answer with these
fields; see ``_flowengine.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FlowengineErrorOutput(BaseModel):
    error: str = Field(description="What was wrong, naming node and field for an invalid workflow.")


class HealthOutput(BaseModel):
    status: str = Field(description='"healthy"')
    version: str
    service: str


class NodeTypeInfo(BaseModel):
    type: str
    category: str
    description: str


class WorkflowSummary(BaseModel):
    id: str
    name: str
    description: Any = None
    nodes: int
    connections: int
    format: str | None = Field(description="The format that reads it (flowengine, flowgram, ...).")
    created_at: float
    updated_at: float


class CreatedOutput(BaseModel):
    id: str
    message: str


class MessageOutput(BaseModel):
    message: str


class NodeResult(BaseModel):
    status: str = Field(description="succeeded, failed, canceled or skipped")
    attempts: int
    outputs: dict[str, Any]
    error: str | None


class ResultObject(BaseModel):
    """A finished run, as ``flowloom run --json`` prints it for a flowengine workflow."""

    run_id: str
    status: str = Field(description="succeeded, failed or canceled")
    outputs: dict[str, dict[str, Any]] = Field(description="The sinks that succeeded: their outputs.")
    nodes: dict[str, NodeResult]
    error: str | None


class StartedOutput(BaseModel):
    execution_id: str = Field(description="The run's id (also run_id), for /api/v1/runs and /api/events.")
    run_id: str
    status: str


ANY_OBJECT: dict[str, Any] = {"type": "object"}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


EXECUTE_BODY = {"type": "object", "properties": {"inputs": ANY_OBJECT}}
EXECUTE_UNSAVED_BODY = {
    "type": "object",
    "properties": {"workflow": ANY_OBJECT, "inputs": ANY_OBJECT},
    "required": ["workflow"],
}
WAIT_PARAMETER = {
    "name": "wait",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": True},
    "description": "false: answer 202 at once with the run id; the run goes on.",
}
