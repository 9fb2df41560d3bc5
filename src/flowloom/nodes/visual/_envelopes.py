"""The agent-envelope builtins: ``make_meta`` (a host's meta envelope), ``make_scratchpad`` (a trace
envelope) and ``agent_trace_report`` (a scratchpad's node traces as Markdown). Pure data shaping: nothing
here calls a model."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flowloom.engine import NodeError

Fn = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], Any]

META_SCHEMA = "abstractcode.agent.v1.meta"
_META_TEXT = ("output_mode", "provider", "model", "sub_run_id", "finish_reason")
_META_COUNTS = ("iterations", "tool_calls", "tool_results")
_META_NUMBERS = ("gen_time", "ttft_ms")
_META_OBJECTS = ("usage", "debug")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value).strip()


def _integer(value: Any, pin: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise NodeError(f"make_meta: '{pin}' must be a number, got {value!r}") from None


def _make_meta(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    extra = i.get("extra")
    meta: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
    meta["schema"] = _text(i.get("schema")) or META_SCHEMA
    meta["version"] = _integer(i["version"], "version") if i.get("version") not in (None, "") else 1
    for pin in _META_TEXT:
        if _text(i.get(pin)):
            meta[pin] = _text(i.get(pin))
    for pin in _META_COUNTS:
        if i.get(pin) is not None:
            meta[pin] = _integer(i[pin], pin)
    for pin in _META_NUMBERS:
        if isinstance(i.get(pin), int | float) and not isinstance(i.get(pin), bool):
            meta[pin] = i[pin]
    for pin in _META_OBJECTS:
        if isinstance(i.get(pin), Mapping):
            meta[pin] = dict(i[pin])
    trace = dict(i["trace"]) if isinstance(i.get("trace"), Mapping) else {}
    if _text(i.get("trace_id")):
        trace["trace_id"] = _text(i.get("trace_id"))
    if trace:
        meta["trace"] = trace
    warnings = i.get("warnings")
    if isinstance(warnings, list):
        meta["warnings"] = [str(w) for w in warnings if w not in (None, "")]
    elif _text(warnings):
        meta["warnings"] = [_text(warnings)]
    return {"meta": meta}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _make_scratchpad(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    pad: dict[str, Any] = {}
    for pin in ("sub_run_id", "workflow_id"):
        if _text(i.get(pin)):
            pad[pin] = _text(i.get(pin))
    pad["task"] = i.get("task") if isinstance(i.get("task"), str) else ""
    pad["messages"] = _as_list(i.get("messages"))
    if isinstance(i.get("context_extra"), Mapping):
        pad["context_extra"] = dict(i["context_extra"])
    pad["node_traces"] = dict(i["node_traces"]) if isinstance(i.get("node_traces"), Mapping) else {}
    for pin in ("steps", "tool_calls", "tool_results"):
        pad[pin] = _as_list(i.get(pin))
    return {"scratchpad": pad}


def _agent_trace_report(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    pad = i.get("scratchpad")
    traces = pad.get("node_traces") if isinstance(pad, Mapping) else None
    lines = ["# Agent Trace Report", ""]
    if not isinstance(traces, Mapping) or not traces:
        lines.append("_No node_traces found in scratchpad._")
        return {"result": "\n".join(lines) + "\n"}
    for node_id, trace in traces.items():
        lines.append(f"## {node_id}")
        lines.append("")
        steps = trace.get("steps") if isinstance(trace, Mapping) else trace
        lines.extend(
            f"- {step if isinstance(step, str) else json.dumps(step, ensure_ascii=False)}"
            for step in _as_list(steps)
        )
        lines.append("")
    return {"result": "\n".join(lines).rstrip("\n") + "\n"}


ENVELOPE_BUILTINS: dict[str, tuple[Fn, str, tuple[str, ...], tuple[str, ...]]] = {
    "make_meta": (
        _make_meta,
        "A host meta envelope: schema, integer version, trimmed texts, integer counts.",
        (
            "schema",
            "version",
            *_META_TEXT,
            *_META_COUNTS,
            *_META_NUMBERS,
            "usage",
            "trace",
            "warnings",
            "debug",
            "extra",
        ),
        ("meta",),
    ),
    "make_scratchpad": (
        _make_scratchpad,
        "A trace envelope, its list fields defaulted to [].",
        (
            "sub_run_id",
            "workflow_id",
            "task",
            "messages",
            "context_extra",
            "node_traces",
            "steps",
            "tool_calls",
            "tool_results",
        ),
        ("scratchpad",),
    ),
    "agent_trace_report": (
        _agent_trace_report,
        "A scratchpad's node traces as Markdown.",
        ("scratchpad",),
        ("result",),
    ),
}
