"""flowengine's view of a run, for every host (the CLI's ``--json``/``--jsonl``, the server's REST API and
event streams): the result object, and flowloom's events under flowengine's event names
(``../shared/conformance/flowengine/README.md``). Host-neutral: it reads a run through ``RunState`` and
events as their type name and JSON fields, so a live event and one read back from a store's ledger render
the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flowloom.ir import Report, Status, Workflow

NodeState = tuple[Status, int, Mapping[str, Any] | None, str | None]
"""A node's status, attempts (of its last start), outputs and error."""

_STATUS = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed", Status.CANCELED: "canceled"}


class RunState(Protocol):
    """What the result object reads of a run (an ``engine.Run`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> Status: ...

    @property
    def error(self) -> str | None: ...

    def node_state(self, node_id: str) -> tuple[Status, int, dict[str, Any] | None, str | None]: ...

    def report(self) -> Report: ...


def result_object(workflow: Workflow, run: RunState, by_signal: str | None = None) -> dict[str, Any]:
    """``{run_id, status, outputs (succeeded sinks), nodes, error}``: the contract's result object.
    ``by_signal`` names the signal that canceled the run, if one did."""
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


def _run_error(run: RunState, nodes: Mapping[str, Any]) -> str:
    for message in run.report().messages.error:
        if message.node_id is not None and message.node_id in nodes:
            return f"Node {message.node_id} failed: {message.message}"
    return run.error or "Run failed"


def max_attempts_of(workflow: Workflow) -> dict[str, int]:
    """Each retried node's ``max_attempts`` (what ``NodeRetrying`` lines say)."""
    return {node.id: node.retry.max_attempts for node in workflow.nodes if node.retry}


class EventLines:
    """One run's events as flowengine's users see them (``line``): ``RunStarted``, ``NodeStarted``,
    ``NodeLog``, ``NodeRetrying``, ``NodeProgress``, ``NodeSucceeded``, ``NodeFailed`` (also for a node
    canceled while it ran), ``RunFinished``, and flowloom's ``RunRetrying`` (``RetryWorkflow`` starts the
    run over); flowloom's other events (skips, waits) have no line.
    ``node_state`` (when the host has the run at hand) gives a node's outputs and attempts; else attempts
    are counted from the retries seen and outputs come with the event's ``outputs`` field, if any."""

    def __init__(
        self,
        max_attempts: Mapping[str, int],
        node_state: Callable[[str], NodeState] | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.node_state = node_state
        self._retries: dict[str, int] = {}
        self._first_failure: str | None = None

    def _attempts(self, node_id: str) -> int:
        if self.node_state is not None:
            return self.node_state(node_id)[1]
        return self._retries.get(node_id, 0) + 1

    def line(self, kind: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The line of one event (``kind``: its type name, ``data``: its JSON fields), or ``None``."""
        node_id = data.get("node_id")
        match kind:
            case "NodeLog":
                return {"type": "NodeLog", "node_id": node_id, "stream": data["stream"], "line": data["line"]}
            case "RunStarted":
                return {"type": "RunStarted", "run_id": data["run_id"]}
            case "RunRetrying":  # not flowengine's (its RetryWorkflow was a TODO): the run starts over
                self._retries.clear()
                self._first_failure = None
                return {"type": "RunRetrying", "attempt": data["attempt"], "error": data.get("error")}
            case "NodeStarted":
                self._retries.pop(str(node_id), None)
                return {"type": "NodeStarted", "node_id": node_id, "node_type": data["node_type"]}
            case "NodeSucceeded":
                return self._succeeded(str(node_id), data)
            case "NodeFailed":
                if self._first_failure is None:
                    self._first_failure = f"Node {node_id} failed: {data['error']}"
                return {
                    "type": "NodeFailed",
                    "node_id": node_id,
                    "error": data["error"],
                    "attempts": data.get("attempt", 1),
                }
            case "NodeCanceled":
                return {
                    "type": "NodeFailed",
                    "node_id": node_id,
                    "error": "canceled",
                    "attempts": self._attempts(str(node_id)),
                }
            case "NodeRetrying":
                self._retries[str(node_id)] = int(data["attempt"])
                return {
                    "type": "NodeRetrying",
                    "node_id": node_id,
                    "attempt": data["attempt"],
                    "max_attempts": self.max_attempts.get(str(node_id), 1),
                    "delay_ms": round(float(data["delay_s"]) * 1000, 3),
                    "error": data["error"],
                }
            case "NodeProgress":
                done, total = data["done"], data.get("total")
                return {
                    "type": "NodeProgress",
                    "node_id": node_id,
                    "percent": done * 100 / total if total else done,
                    "message": data.get("message"),
                }
            case "RunFinished":
                return self.finished(data["run_id"], str(data["status"]), data.get("error"))
        return None

    def _succeeded(self, node_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        if self.node_state is not None:
            _status, attempts, outputs, _error = self.node_state(node_id)
        else:
            attempts, outputs = self._attempts(node_id), data.get("outputs")
        outputs = dict(outputs or {})
        return {"type": "NodeSucceeded", "node_id": node_id, "outputs": outputs, "attempts": attempts}

    def finished(self, run_id: str, status: str, error: str | None) -> dict[str, Any]:
        """The ``RunFinished`` line; a failed run's error names the node that failed first (as the result
        object's does), a canceled run's mentions the cancel."""
        if status == "failed" and self._first_failure is not None:
            error = self._first_failure
        elif status == "canceled" and not error:
            error = "Run canceled"
        return {"type": "RunFinished", "run_id": run_id, "status": status, "error": error}
