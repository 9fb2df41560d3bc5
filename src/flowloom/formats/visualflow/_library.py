"""A flow's subflows carried in its document: ``with_subflows`` walks the subflow nodes (``data.subflowId``)
of a flow and of every flow it reaches, asks a ``SubflowSource`` for each, and puts what it finds in the
document's ``subflows`` (flow id → document). The compiled workflow then holds every flow its runs may
start, so a run resumed in another process, or reaching a subflow only after a resume, needs nothing but the
store. A flow no source has is left out: the subflow node that reaches it fails, naming it."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowloom.ir import SubflowSource

from ._types import SUBFLOWS, normalise_type


class FolderSubflows:
    """The flows of a folder as ``<flow id>.json`` (the rule ``bundle pack`` uses for a VisualFlow file's
    subflows). Ids that are not plain file names are never looked up."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def subflow(self, flow_id: str) -> Mapping[str, Any] | None:
        if not flow_id or flow_id != Path(flow_id).name or flow_id in (".", ".."):
            return None
        path = self.folder / f"{flow_id}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document if isinstance(document, Mapping) else None


def subflow_ids(document: Mapping[str, Any]) -> list[str]:
    """The flow ids the subflow nodes of ``document`` name, in document order."""
    found: list[str] = []
    for node in document.get("nodes") or ():
        data = node.get("data") if isinstance(node, Mapping) else None
        if not isinstance(data, Mapping):
            continue
        kind = normalise_type(data.get("nodeType") or node.get("type") or "")
        flow_id = data.get("subflowId") or data.get("flowId")
        if kind == "subflow" and isinstance(flow_id, str) and flow_id and flow_id not in found:
            found.append(flow_id)
    return found


def with_subflows(document: Mapping[str, Any], source: SubflowSource) -> dict[str, Any]:
    """``document`` with every subflow it reaches (through other subflows too) in its ``subflows``; what
    the document carries already is kept, the root included when a flow calls it (recursion)."""
    library: dict[str, Any] = dict(document.get(SUBFLOWS) or {})
    root_id = document.get("id")
    todo = deque(subflow_ids(document))
    while todo:
        flow_id = todo.popleft()
        if flow_id in library:
            continue
        found = source.subflow(flow_id)
        if found is None and flow_id == root_id:
            found = {k: v for k, v in document.items() if k != SUBFLOWS}
        if found is None:
            continue
        library[flow_id] = {k: v for k, v in found.items() if k != SUBFLOWS}
        todo.extend(subflow_ids(found))
    out = dict(document)
    if library:
        out[SUBFLOWS] = library
    return out
