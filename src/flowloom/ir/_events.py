"""Typed run events. The store ledger, hooks, the CLI live view and server streams subscribe to them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ._constants import SkipReason, Status
from ._jsvalues import js_plain


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    run_id: str
    at: float  # time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEvent(Event):
    node_id: str
    node_type: str
    scope: tuple[int, ...] = ()  # loop iteration indexes, outermost first


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStarted(NodeEvent):
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSucceeded(NodeEvent):
    duration_s: float
    branch: str | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFailed(NodeEvent):
    error: str
    duration_s: float
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRetrying(NodeEvent):
    error: str
    attempt: int  # the attempt that failed
    delay_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSkipped(NodeEvent):
    reason: SkipReason


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCanceled(NodeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeLog(NodeEvent):
    stream: str
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeProgress(NodeEvent):
    done: float
    total: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMDelta(NodeEvent):
    text: str


_FIELDS: dict[type[Event], tuple[str, ...]] = {}
_AS_IS = frozenset({str, int, bool, type(None), Status, SkipReason})


def event_json(event: Event) -> dict[str, Any]:
    """An event's fields as JSON values (tuples become lists; statuses are their strings)."""
    names = _FIELDS.get(type(event))
    if names is None:
        names = _FIELDS[type(event)] = tuple(f.name for f in dataclasses.fields(event))
    data = {}
    for name in names:
        value = getattr(event, name)
        data[name] = value if type(value) in _AS_IS else js_plain(value)
    return data
