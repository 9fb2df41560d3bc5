"""Typed run events. The store ledger, hooks, the CLI live view and server streams subscribe to them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from operator import attrgetter
from typing import Any

from ._constants import SkipReason, Status
from ._jsontext import RawJson, json_text
from ._jsvalues import js_plain


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event carries: the run it is about and when it happened."""

    run_id: str
    at: float  # time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    """A run began, with these inputs."""

    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    """A run ended: its final status, its outputs, and its first error if it failed."""

    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRetrying(Event):
    """A failed run starts over as a whole (its workflow's ``settings.run_attempts``): ``attempt`` is the
    one that failed (from 1), with its first ``error``. The nodes run again; their records are replaced."""

    attempt: int
    max_attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunWaiting(Event):
    """A run can go no further until its open waits are answered: it is ``waiting`` in the store and no
    longer in any process's memory. ``waits`` are the open waits as ``WaitRow.to_json()`` gives them."""

    waits: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed(Event):
    """A waiting run was answered and goes on: ``key`` is the wait answered (by ``node_id``), ``payload``
    the answer (``{"timedOut": true}`` for a timed wait that came due)."""

    key: str
    node_id: str
    payload: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEvent(Event):
    """An event about one execution of a node: which node, of what type, in which loop iteration."""

    node_id: str
    node_type: str
    scope: tuple[int, ...] = ()  # loop iteration indexes, outermost first


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStarted(NodeEvent):
    """A node began to run (a retry sends ``NodeRetrying``, not another ``NodeStarted``)."""

    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSucceeded(NodeEvent):
    """A node finished; ``branch`` is the port a branching node chose, ``cached`` a result-cache hit."""

    duration_s: float
    branch: str | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFailed(NodeEvent):
    """A node failed for good (no retry left): the run's failure policy decides what follows."""

    error: str
    duration_s: float
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRetrying(NodeEvent):
    """An attempt failed and the node will run again after ``delay_s`` seconds."""

    error: str
    attempt: int  # the attempt that failed
    delay_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSkipped(NodeEvent):
    """A node did not run, for ``reason``."""

    reason: SkipReason


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCanceled(NodeEvent):
    """A node was stopped while it ran: its run was canceled, or a failure elsewhere stopped the run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeLog(NodeEvent):
    """A line a node wrote (``stream``: ``stdout`` unless the node says otherwise)."""

    stream: str
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeProgress(NodeEvent):
    """How far a node has come: ``done`` of ``total`` (if known), with an optional message."""

    done: float
    total: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMDelta(NodeEvent):
    """A piece of an ``llm`` node's answer as it streams in (only while someone listens)."""

    text: str


_FIELDS: dict[type[Event], tuple[str, ...]] = {}
_AS_IS = frozenset({str, int, bool, type(None), Status, SkipReason})


def _field_names(kind: type[Event]) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def event_json(event: Event) -> dict[str, Any]:
    """An event's fields as JSON values (tuples become lists; statuses are their strings)."""
    data = {}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        data[name] = value if type(value) in _AS_IS else js_plain(value)
    return data


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        return json_text(value)
    return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)


def _tuple_text(value: tuple[Any, ...]) -> str:
    if all(type(item) is int for item in value):
        return _scope_text(value)
    return json_text(js_plain(value))


def _scope_text(scope: tuple[int, ...]) -> str:
    return "[" + ",".join(map(repr, scope)) + "]"


def _value_text(value: Any) -> str:
    return json_text(js_plain(value))


_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    Status: encode_basestring,
    SkipReason: encode_basestring,
    int: int.__repr__,
    float: _float_text,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "null",
    tuple: _tuple_text,
}
_TEMPLATES: dict[type[Event], tuple[Callable[[Event], tuple[Any, ...]], tuple[str, ...]]] = {}


def event_text(event: Event) -> RawJson:
    """``json_text(event_json(event))``, the same text, built field by field: the ledger encodes two events
    per node, and this is several times cheaper than building the dict and encoding it."""
    template = _TEMPLATES.get(type(event))
    if template is None:
        names = _field_names(type(event))
        keys = tuple(encode_basestring(name) + ":" for name in names)
        template = _TEMPLATES[type(event)] = (attrgetter(*names), keys)
    values, keys = template
    encoders = _ENCODERS
    return RawJson(
        "{"
        + ",".join(
            [
                key + encoders.get(type(value), _value_text)(value)
                for key, value in zip(keys, values(event), strict=True)
            ]
        )
        + "}"
    )


class NodeEventTexts:
    """``event_text`` of one run's ``NodeStarted`` and ``NodeSucceeded`` events, from their field values and
    a piece prepared once per run: the ledger writes these two for every node execution, and with
    nothing listening on the bus the engine does not make the events themselves. The same text as
    ``event_text`` of the event (a test holds them to it)."""

    __slots__ = ("_head", "_node_heads")

    def __init__(self, run_id: str) -> None:
        self._head = '{"run_id":' + encode_basestring(run_id) + ',"at":'
        self._node_heads: dict[str, str] = {}  # by node id (unique in a run's workflow): its two fields

    def _node(self, node_id: str, node_type: str, scope: tuple[int, ...]) -> str:
        head = self._node_heads.get(node_id)
        if head is None:
            head = self._node_heads[node_id] = (
                f',"node_id":{encode_basestring(node_id)},"node_type":{encode_basestring(node_type)},"scope":'
            )
        return head + _scope_text(scope) if scope else head + "[]"

    def started(self, node_id: str, node_type: str, scope: tuple[int, ...], at: float, attempt: int) -> str:
        node = self._node(node_id, node_type, scope)
        return f'{self._head}{_float_text(at)}{node},"attempt":{attempt!r}}}'

    def succeeded(
        self,
        node_id: str,
        node_type: str,
        scope: tuple[int, ...],
        at: float,
        duration_s: float,
        branch: str | None,
        cached: bool,
    ) -> str:
        node = self._node(node_id, node_type, scope)
        branch_text = "null" if branch is None else encode_basestring(branch)
        return (
            f'{self._head}{_float_text(at)}{node},"duration_s":{_float_text(duration_s)},'
            f'"branch":{branch_text},"cached":{"true" if cached else "false"}}}'
        )
