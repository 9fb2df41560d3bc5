"""The run report in upstream flowgram's ``IReport`` shape, and the validation result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._constants import Status
from ._dump import wire_json


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, defer_build=True)


class StatusData(_Wire):
    status: Status
    terminated: bool
    start_time: int | None = Field(default=None, alias="startTime")
    end_time: int | None = Field(default=None, alias="endTime")
    time_cost: int = Field(default=0, alias="timeCost")


class Snapshot(_Wire):
    """One execution of a node (every loop iteration is one)."""

    id: str
    node_id: str = Field(alias="nodeID")
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    branch: str | None = None
    error: str | None = None


class NodeReport(StatusData):
    id: str
    snapshots: list[Snapshot] = Field(default_factory=list)


class Message(_Wire):
    id: str
    type: str
    message: str
    node_id: str | None = Field(default=None, alias="nodeID")
    timestamp: int


class Messages(_Wire):
    log: list[Message] = Field(default_factory=list)
    info: list[Message] = Field(default_factory=list)
    debug: list[Message] = Field(default_factory=list)
    error: list[Message] = Field(default_factory=list)
    warning: list[Message] = Field(default_factory=list)


class Report(_Wire):
    """Everything known about a run: upstream ``IReport``."""

    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    workflow_status: StatusData = Field(alias="workflowStatus")
    reports: dict[str, NodeReport]
    messages: Messages

    def to_json(self) -> dict[str, Any]:
        """The wire form: camelCase keys, absent optionals left out as upstream does."""
        return wire_json(self)


class ValidationResult(_Wire):
    valid: bool
    errors: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return wire_json(self)
