"""VisualFlow (the JSON the AbstractFlow editor saves) as a front door: detected by its shape, lowered and
compiled to the IR (see ``_compile``); its node types are ``flowloom.nodes.visual``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.ir import InvalidWorkflowError

from .._format import LoadedWorkflow
from .._triggers import read_triggers
from ._compile import compile_flow
from ._library import FolderSubflows, subflow_ids, with_subflows
from ._lower import LoweringError
from ._parse import parse_flow
from ._reach import reachable_subflows
from ._types import IR_PREFIX

__all__ = [
    "IR_PREFIX",
    "FolderSubflows",
    "VisualFlowFormat",
    "reachable_subflows",
    "subflow_ids",
    "with_subflows",
]


class VisualFlowFormat:
    """VisualFlow JSON. Detected by nodes with ``data.nodeType`` or edges with ``sourceHandle`` /
    ``targetHandle`` (flowgram's edges have ``sourceNodeID``, its nodes no ``nodeType``)."""

    name: ClassVar[str] = "visualflow"

    def detect(self, document: Any) -> bool:
        if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), list):
            return False
        nodes, edges = document["nodes"], document.get("edges")
        if not nodes and not edges:
            return _empty_visualflow(document)
        if any(
            isinstance(n, Mapping) and isinstance(n.get("data"), Mapping) and "nodeType" in n["data"]
            for n in nodes[:16]
        ):
            return True
        return isinstance(edges, list) and any(
            isinstance(e, Mapping)
            and ("sourceHandle" in e or "targetHandle" in e)
            and "sourceNodeID" not in e
            for e in edges[:16]
        )

    def load(self, document: Any) -> LoadedWorkflow:
        if not isinstance(document, Mapping):
            raise InvalidWorkflowError(["a VisualFlow must be a JSON object"])
        flow, errors = parse_flow(document)
        triggers, trigger_errors = read_triggers(document)
        if flow is None or trigger_errors:
            raise InvalidWorkflowError([*errors, *trigger_errors])
        try:
            workflow = compile_flow(flow)
        except LoweringError as exc:
            raise InvalidWorkflowError([f"VisualFlow '{flow.id}': {exc}"]) from None
        if triggers:
            workflow = workflow.model_copy(update={"triggers": triggers})
        # Out-of-scope node types (LLM, agents, memory, ...) compile and fail when reached.
        return LoadedWorkflow(workflow, None, lenient_node_types=True)


_VISUALFLOW_KEYS = ("id", "name", "description", "interfaces", "entryNode")
_OTHER_FORMAT_KEYS = ("format", "settings", "global_variables", "globalVariable", "connections")


def _empty_visualflow(document: Mapping[str, Any]) -> bool:
    """A flow with no nodes and no edges has no shape to tell: it is a VisualFlow when it has the editor's
    top-level keys (``id``, ``name``, ``interfaces``...) and none of another format's, so that a VisualFlow
    saved empty (or without its ``id``) gets VisualFlow's messages. A bare ``{nodes, edges}`` stays
    flowgram's (the fallback)."""
    return any(k in document for k in _VISUALFLOW_KEYS) and not any(k in document for k in _OTHER_FORMAT_KEYS)
