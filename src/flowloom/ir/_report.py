"""The run report in upstream flowgram's ``IReport`` shape, and the validation result."""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from ._constants import Status

# A report of more node reports than this is dumped by pydantic (about twice as fast per node, once its
# serializer is built); a smaller one by ``_wire_json``, which builds nothing: a fresh CLI process does not
# build six models' validators and serializers (several ms) to dump one small report.
_WALK_MAX_NODES = 200


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
        if len(self.reports) > _WALK_MAX_NODES:
            return self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return _wire_json(self)


class ValidationResult(_Wire):
    valid: bool
    errors: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return _wire_json(self)


def _wire_json(model: _Wire) -> dict[str, Any]:
    """``model.model_dump(mode="json", by_alias=True, exclude_none=True)``, the same value (a test holds
    them to it), without building the model's pydantic serializer."""
    return to_jsonable_python(_by_alias(model), inf_nan_mode="null")  # type: ignore[no-any-return]


# Per model class: (attribute, key, kind) of each field; kind says where models sit in its value.
_PLAIN, _MODEL, _MODEL_LIST, _MODEL_DICT = range(4)
_LAYOUTS: dict[type[_Wire], tuple[tuple[str, str, int], ...]] = {}


def _by_alias(model: _Wire) -> dict[str, Any]:
    """The fields of ``model`` that are not None, under their aliases; models in them likewise."""
    layout = _LAYOUTS.get(type(model))
    if layout is None:
        fields = type(model).model_fields
        layout = _LAYOUTS[type(model)] = tuple(
            (name, field.alias or name, _kind(field.annotation)) for name, field in fields.items()
        )
    out: dict[str, Any] = {}
    for name, key, kind in layout:
        value = getattr(model, name)
        if value is None:
            continue
        if kind == _MODEL:
            value = _by_alias(value)
        elif kind == _MODEL_LIST:
            value = [_by_alias(item) for item in value]
        elif kind == _MODEL_DICT:
            value = {k: _by_alias(item) for k, item in value.items()}
        out[key] = value
    return out


def _kind(annotation: Any) -> int:
    args = get_args(annotation)
    if _is_model(annotation):
        return _MODEL
    if get_origin(annotation) is list and _is_model(args[0]):
        return _MODEL_LIST
    if get_origin(annotation) is dict and _is_model(args[1]):
        return _MODEL_DICT
    if any(map(_mentions_model, args)):
        raise TypeError(f"report field type {annotation} is not one _wire_json lays out: add it there")
    return _PLAIN


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, _Wire)


def _mentions_model(tp: Any) -> bool:
    return _is_model(tp) or any(map(_mentions_model, get_args(tp)))
