"""flowengine workflow JSON (allen-munsch/flowengine): nodes with ``node_type`` and ``config`` (plain or
tagged values), ``retry_policy``, port-to-port ``connections``, ``settings`` (``max_parallel_nodes``,
``max_execution_time_ms``, ``on_error``) and ``triggers`` (kept, not run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.ir import InvalidWorkflowError

from .._format import LoadedWorkflow
from ._loader import CONFIG_KEY, ROOT_KEY, load_flowengine
from ._values import plain, tagged


class FlowengineFormat:
    """Detected by its shape: a ``connections`` array, or nodes with ``node_type``."""

    name: ClassVar[str] = "flowengine"

    def detect(self, document: Any) -> bool:
        if not isinstance(document, Mapping):
            return False
        if isinstance(document.get("connections"), list):
            return True
        nodes = document.get("nodes")
        return isinstance(nodes, list) and any(
            isinstance(node, Mapping) and "node_type" in node for node in nodes[:8]
        )

    def load(self, document: Any) -> LoadedWorkflow:
        workflow, problems = load_flowengine(document)
        if problems:
            raise InvalidWorkflowError(problems)
        return LoadedWorkflow(workflow, _check_inputs)


def _check_inputs(inputs: Mapping[str, Any]) -> list[str]:
    return [] if isinstance(inputs, Mapping) else ["inputs must be a JSON object"]


__all__ = ["CONFIG_KEY", "ROOT_KEY", "FlowengineFormat", "plain", "tagged"]
