"""VisualFlow (the JSON the AbstractFlow editor saves) as a front door: detected by its shape, lowered and
compiled to the IR (see ``_compile``); its node types are ``flowloom.nodes.visual``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.ir import InvalidWorkflowError

from .._format import LoadedWorkflow
from .._triggers import read_triggers
from ._compile import compile_flow
from ._lower import LoweringError
from ._parse import parse_flow
from ._types import IR_PREFIX

__all__ = ["IR_PREFIX", "VisualFlowFormat"]


class VisualFlowFormat:
    """VisualFlow JSON. Detected by nodes with ``data.nodeType`` or edges with ``sourceHandle`` /
    ``targetHandle`` (flowgram's edges have ``sourceNodeID``, its nodes no ``nodeType``)."""

    name: ClassVar[str] = "visualflow"

    def detect(self, document: Any) -> bool:
        if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), list):
            return False
        nodes, edges = document["nodes"], document.get("edges")
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
