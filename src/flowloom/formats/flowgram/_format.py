"""flowgram.ai workflow JSON as a ``WorkflowFormat``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

from flowloom.ir import FlowgramNodeType, InvalidWorkflowError, Workflow, wire_json

from .._format import InputCheck, LoadedWorkflow
from .._triggers import read_triggers
from ._inputs import validate_inputs
from ._loader import start_node, to_workflow
from ._settings import settings_problems
from ._validation import validate_workflow_json


class FlowgramFormat:
    """``{"nodes": [...], "edges": [...]}`` with flowgram node types, checked with the messages of
    ``@flowgram.ai/runtime-js`` 1.0.9. Inputs are checked against the start node's outputs schema; a node
    type without an executor fails when reached, as upstream's runtime does."""

    name: ClassVar[str] = "flowgram"

    def detect(self, document: Any) -> bool:
        if not isinstance(document, Mapping):
            return False
        nodes = document.get("nodes")
        return (
            isinstance(nodes, list)
            and isinstance(document.get("edges"), list)
            and all(isinstance(n, Mapping) and "type" in n and "node_type" not in n for n in nodes[:8])
        )

    def load(self, document: Any) -> LoadedWorkflow:
        errors = validate_workflow_json(document)
        triggers, trigger_errors = read_triggers(document)
        if errors or trigger_errors:
            raise InvalidWorkflowError([*errors, *trigger_errors])
        workflow = to_workflow(document)
        return LoadedWorkflow(
            workflow.model_copy(update={"triggers": triggers}) if triggers else workflow,
            _input_check(document),
            lenient_node_types=True,
            problems=tuple(settings_problems(document)),
        )


def _input_check(document: Mapping[str, Any]) -> InputCheck | None:
    """Inputs are checked against the start node's outputs schema as the JSON gives it."""
    start = start_node(document)
    if start is None:
        return None
    data = start.get("data")
    return partial(validate_inputs, str(start["id"]), data.get("outputs") if isinstance(data, dict) else None)


def workflow_input_check(workflow: Workflow) -> InputCheck | None:
    """The same check for a workflow built in Python: against its ``start`` node's outputs schema."""
    start = next((n for n in workflow.nodes if n.type == FlowgramNodeType.START), None)
    if start is None:
        return None
    return partial(validate_inputs, start.id, wire_json(start.outputs) if start.outputs else None)
