"""flowloom's own workflow JSON: an ``ir.Workflow`` as JSON (what ``Workflow.model_dump()`` gives, and what
the store keeps with each run), so a workflow built in Python can be saved, run and checked by the CLI and
the server like any other document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ValidationError

from flowloom.ir import InvalidWorkflowError, Workflow

from ._format import LoadedWorkflow
from ._triggers import TRIGGERS_KEY, read_triggers
from .flowgram import workflow_input_check

FORMAT_KEY = "format"


class IrFormat:
    """``{"format": "flowloom", "nodes": [{"id", "type", "data", "inputs_values", ...}], "edges":
    [{"source", "target", "source_port", "target_port"}]}``; ``format`` may be left out when an edge shows
    the shape. Checked by pydantic (every field error, with its place) and then by the engine."""

    name: ClassVar[str] = "flowloom"

    def detect(self, document: Any) -> bool:
        if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), list):
            return False
        if document.get(FORMAT_KEY) == self.name:
            return True
        edges = document.get("edges")
        return (
            isinstance(edges, list)
            and bool(edges)
            and all(isinstance(e, Mapping) and "source" in e and "target" in e for e in edges[:8])
        )

    def load(self, document: Any) -> LoadedWorkflow:
        triggers, errors = read_triggers(document)
        if isinstance(document, Mapping) and TRIGGERS_KEY in document:
            document = {key: value for key, value in document.items() if key != TRIGGERS_KEY}
        try:
            workflow = Workflow.model_validate(document)
        except ValidationError as exc:
            errors = [*(_message(error) for error in exc.errors()), *errors]
        if errors:
            raise InvalidWorkflowError(errors) from None
        if triggers:
            workflow = workflow.model_copy(update={"triggers": triggers})
        return LoadedWorkflow(workflow, workflow_input_check(workflow))


def _message(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "workflow"
    return f"{where}: {error['msg']}"
