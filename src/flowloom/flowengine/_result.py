"""What every host of flowengine workflows shares: the result object of a run, ``{run_id, status, outputs,
nodes, error}`` (the contract of ``../shared/conformance/flowengine/README.md``): ``flowloom run --json``
prints it, ``Flow.execute`` returns it."""

from __future__ import annotations

from typing import Any

from flowloom.engine import CompiledWorkflow, Run
from flowloom.ir import Status

_STATUS = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed", Status.CANCELED: "canceled"}


def result_object(compiled: CompiledWorkflow, run: Run, by_signal: str | None = None) -> dict[str, Any]:
    """``{run_id, status, outputs (succeeded sinks), nodes, error}``: the contract's result object."""
    workflow = compiled.workflow
    sources = {edge.source for edge in workflow.edges}
    nodes: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for node in workflow.nodes:
        status, attempts, produced, error = run.node_state(node.id)
        name = _STATUS.get(status, "skipped")
        nodes[node.id] = {
            "status": name,
            "attempts": attempts if name != "skipped" else 0,
            "outputs": dict(produced or {}) if name == "succeeded" else {},
            "error": error if name == "failed" else ("canceled" if name == "canceled" else None),
        }
        if name == "succeeded" and node.id not in sources:
            outputs[node.id] = dict(produced or {})
    ended = _STATUS.get(run.status, str(run.status))
    failure: str | None = None
    if ended == "failed":
        failure = _run_error(run, nodes)
    elif ended == "canceled":
        failure = f"Run canceled ({by_signal})" if by_signal else "Run canceled"
    return {"run_id": run.id, "status": ended, "outputs": outputs, "nodes": nodes, "error": failure}


def _run_error(run: Run, nodes: dict[str, Any]) -> str:
    for message in run.report().messages.error:
        if message.node_id is not None and message.node_id in nodes:
            return f"Node {message.node_id} failed: {message.message}"
    return run.error or "Run failed"
