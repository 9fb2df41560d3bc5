"""Reading a VisualFlow document permissively (as AbstractRuntime does): nodes without an id, edges missing a
handle or an endpoint, unknown keys are dropped; what is left is classified into exec and data edges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._types import EXEC_IN, EXEC_OUT, EXECUTION, PURE_BARE, SUBFLOWS, normalise_type


@dataclass(slots=True)
class VNode:
    id: str
    type: str
    data: dict[str, Any]
    inputs: list[dict[str, Any]] | None  # the pin lists, None when the node has none (programmatic)
    outputs: list[dict[str, Any]] | None

    @property
    def label(self) -> str:
        label = self.data.get("label")
        return label if isinstance(label, str) and label else self.id

    @property
    def pinned(self) -> bool:
        return bool(self.inputs) or bool(self.outputs)

    @property
    def is_exec(self) -> bool:
        if self.pinned:
            pins = [*(self.inputs or ()), *(self.outputs or ())]
            return any(pin.get("type") == EXECUTION for pin in pins)
        return self.type not in PURE_BARE

    def pin_ids(self, outputs: bool, execution: bool) -> list[str]:
        pins = (self.outputs if outputs else self.inputs) or []
        return [str(pin["id"]) for pin in pins if "id" in pin and (pin.get("type") == EXECUTION) is execution]


@dataclass(frozen=True, slots=True)
class VEdge:
    source: str
    source_handle: str
    target: str
    target_handle: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_exec(self) -> bool:
        return self.target_handle == EXEC_IN

    @property
    def is_data(self) -> bool:
        return self.target_handle != EXEC_IN and self.source_handle != EXEC_OUT


@dataclass(slots=True)
class VFlow:
    id: str
    nodes: dict[str, VNode]  # in document order
    edges: list[VEdge]
    entry_node: str | None
    functions: Any = None
    document: Mapping[str, Any] = field(default_factory=dict)
    subflows: Mapping[str, Any] = field(default_factory=dict)  # flow id -> document (see ``_library``)


_LISTS = ("inputs", "outputs")
_MAPPINGS = ("pinDefaults", "eventConfig", "effectConfig", "switchConfig", "breakConfig", "pinExpressions")


def _listed(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    return value if isinstance(value, list) else []


def _readable(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the structured fields that have the wrong shape (pins not a list, settings not an
    object): dropped, as the rest of a malformed document is, rather than failing later."""
    kept = dict(data)
    for key in _LISTS:
        if key in kept and not isinstance(kept[key], list):
            del kept[key]
    for key in _MAPPINGS:
        if key in kept and not isinstance(kept[key], Mapping):
            del kept[key]
    return kept


def parse_flow(document: Mapping[str, Any]) -> tuple[VFlow | None, list[str]]:
    """The flow, or the reason it cannot be read at all."""
    flow_id = document.get("id")
    if not isinstance(flow_id, str) or not flow_id:
        return None, ["VisualFlow is missing required 'id'"]
    nodes: dict[str, VNode] = {}
    for raw in _listed(document, "nodes"):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str) or not raw.get("id"):
            continue
        data = raw.get("data") if isinstance(raw.get("data"), Mapping) else {}
        assert isinstance(data, Mapping)
        if raw["id"] in nodes:  # AbstractRuntime's refusal, in its words
            return None, [f"Node '{raw['id']}' already exists in flow '{flow_id}'"]
        node_type = normalise_type(data.get("nodeType") or raw.get("type") or "")
        data = _readable(data)
        inputs = [p for p in data.get("inputs") or [] if isinstance(p, Mapping)]
        outputs = [p for p in data.get("outputs") or [] if isinstance(p, Mapping)]
        nodes[raw["id"]] = VNode(
            raw["id"],
            node_type,
            dict(data),
            [dict(p) for p in inputs] or None,
            [dict(p) for p in outputs] or None,
        )
    edges: list[VEdge] = []
    for raw in _listed(document, "edges"):
        if not isinstance(raw, Mapping):
            continue
        ends = [raw.get(k) for k in ("source", "sourceHandle", "target", "targetHandle")]
        if not all(isinstance(v, str) and v for v in ends) or ends[0] not in nodes or ends[2] not in nodes:
            continue
        data = raw.get("data") if isinstance(raw.get("data"), Mapping) else {}
        source, source_handle, target, target_handle = (str(v) for v in ends)
        edges.append(VEdge(source, source_handle, target, target_handle, data or {}))
    entry = document.get("entryNode")
    subflows = document.get(SUBFLOWS)
    return VFlow(
        flow_id,
        nodes,
        edges,
        entry if isinstance(entry, str) else None,
        document.get("functions"),
        document,
        subflows if isinstance(subflows, Mapping) else {},
    ), []
