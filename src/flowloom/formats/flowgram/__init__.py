"""flowgram.ai workflow JSON: reading, validation (upstream's exact messages) and conversion to the IR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._format import FlowgramFormat, workflow_input_check
from ._inputs import validate_inputs
from ._loader import start_node, to_edge, to_node, to_workflow
from ._validation import validate_workflow_json


def validate(raw: Any, inputs: Any) -> list[str]:
    """Every validation error of a run of ``raw`` with ``inputs``, as upstream's ``TaskValidate``: the
    schema's errors, or, when the schema is valid, the inputs' errors."""
    errors = validate_workflow_json(raw)
    if errors:
        return errors
    start = start_node(raw)
    if start is None:
        return []
    data = start.get("data")
    outputs = data.get("outputs") if isinstance(data, Mapping) else None
    return validate_inputs(str(start.get("id")), outputs, inputs)


__all__ = [
    "FlowgramFormat",
    "start_node",
    "to_edge",
    "to_node",
    "to_workflow",
    "validate",
    "validate_inputs",
    "validate_workflow_json",
    "workflow_input_check",
]
