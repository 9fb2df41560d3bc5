"""What ``run`` and ``validate`` check before anything runs: the workflow (strictly, for ``validate``), then
the inputs, each reported as what it is -- an invalid workflow, or inputs that do not fit it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowloom.engine import CompiledWorkflow, Engine, InvalidWorkflowError

from ._inputs import inputs_problem, workflow_problem


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a workflow or its inputs were refused: every error, and the one-line message."""

    errors: list[str]
    message: str


def check(
    engine: Engine,
    file: Path,
    inputs: Mapping[str, Any] | None,
    *,
    format: str | None,
    strict: bool = False,
    source: Mapping[str, Any] | None = None,
) -> CompiledWorkflow | Refused:
    """The compiled workflow, or why it (or ``inputs``, unless None) was refused; ``source``: the
    document of ``file`` as read already (a VisualFlow with its subflows)."""
    try:
        compiled = engine.load(file if source is None else source, format=format)
    except InvalidWorkflowError as exc:
        return Refused(exc.errors, workflow_problem(file, exc.errors))
    errors = engine.strict_errors(compiled) if strict else []
    if errors:
        return Refused(errors, workflow_problem(file, errors))
    errors = engine.input_errors(compiled, inputs) if inputs is not None else []
    if errors:
        return Refused(errors, inputs_problem(file, errors))
    return compiled
