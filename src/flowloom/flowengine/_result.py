"""What every host of flowengine workflows shares: the result object of a run, ``{run_id, status, outputs,
nodes, error}`` (the contract of ``../shared/conformance/flowengine/README.md``): ``flowloom run --json``
prints it, ``Flow.execute`` returns it, the server's ``execute`` answers it. Built by
``formats.flowengine.result_object`` (host-neutral: it reads the run through ``RunState``)."""

from __future__ import annotations

from typing import Any

from flowloom.engine import CompiledWorkflow, Run
from flowloom.formats.flowengine import result_object as _result_of


def result_object(compiled: CompiledWorkflow, run: Run, by_signal: str | None = None) -> dict[str, Any]:
    """``{run_id, status, outputs (succeeded sinks), nodes, error}``: the contract's result object."""
    return _result_of(compiled.workflow, run, by_signal)
