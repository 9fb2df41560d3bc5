"""Strict validation (``flowloom validate``, ``Engine.validate(strict=True)``): on top of what every run
checks, what a run would only warn about, or fail on when it reaches it -- node types without an executor,
refs that cannot resolve, and node settings the front door could not use."""

from __future__ import annotations

from ._plan import CompiledWorkflow
from ._protocols import ExecutorLookup
from ._structure import structural_errors


def strict_errors(compiled: CompiledWorkflow, executors: ExecutorLookup) -> list[str]:
    """Every such problem of ``compiled``, each naming the node and field."""
    unknown_types = structural_errors(compiled.workflow, executors, lenient_node_types=False)
    return [*unknown_types, *(message for message, _node in compiled.warnings)]
