"""Which subflows a flow's runs can reach, as its compiler sees the flow: from the entry it runs and from
its ``on_event`` listeners, along exec edges. Bundle packing follows these (deviation D4: the same entry
whatever the process's hash seed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._lower import LoweringError, find_entry, reachable
from ._parse import parse_flow

SUBFLOW = "subflow"


def reachable_subflows(document: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``(node id, flow id)`` of every exec-reachable subflow node, in document order; the flow id is
    None when the node names none (``data.subflowId``, or ``data.flowId``). A flow that cannot be read
    reaches nothing (loading it says why)."""
    flow, _errors = parse_flow(document)
    if flow is None:
        return []
    try:
        roots = [find_entry(flow)]
    except LoweringError:
        return []
    roots += [nid for nid, node in flow.nodes.items() if node.type == "on_event" and node.is_exec]
    seen: set[str] = set()
    for root in roots:
        seen.update(reachable(flow, root))
    found = []
    for nid, node in flow.nodes.items():
        if nid in seen and node.type == SUBFLOW:
            target = node.data.get("subflowId") or node.data.get("flowId")
            found.append((nid, target.strip() if isinstance(target, str) and target.strip() else None))
    return found
