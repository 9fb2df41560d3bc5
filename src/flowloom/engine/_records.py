"""What a run records as it goes (node records, snapshots, messages), and the report built from it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flowloom.ir import (
    Message,
    Messages,
    NodeReport,
    NodeRow,
    Report,
    RunRow,
    SkipReason,
    Snapshot,
    Status,
    StatusData,
    js_plain,
)

from ._gc import collector_paused
from ._secrets import Masker, WorkflowSecrets


def now_ms(t: float) -> int:
    return int(t * 1000)


class SnapshotRecord:
    """One execution of a node."""

    __slots__ = ("branch", "data", "error", "inputs", "node_id", "outputs", "scope")

    def __init__(self, node_id: str, data: dict[str, Any], scope: tuple[int, ...]) -> None:
        self.node_id = node_id
        self.data = data
        self.scope = scope
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] | None = None
        self.branch: str | None = None
        self.error: str | None = None


class NodeRecord(SnapshotRecord):
    """A node in one run: its status, times and attempts, and a snapshot per execution. The record is its
    own first snapshot, and a list is made only for further ones (a node in a loop body): most nodes run
    once, and every object a large run keeps alive is traversed again by each later full collection of the
    cyclic garbage collector."""

    __slots__ = ("_more", "attempts", "end", "executions", "skip_reason", "start", "status")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id, {}, ())
        self.status = Status.PENDING
        self.start: float | None = None
        self.end: float | None = None
        self.attempts = 0
        self.skip_reason: str | None = None
        self.executions = 0
        self._more: list[SnapshotRecord] | None = None

    def new_snapshot(self, data: dict[str, Any], scope: tuple[int, ...]) -> SnapshotRecord:
        """The snapshot of the node's next execution."""
        if self.executions == 0:
            self.data, self.scope = data, scope
            snapshot: SnapshotRecord = self
        else:
            snapshot = SnapshotRecord(self.node_id, data, scope)
            if self._more is None:
                self._more = [snapshot]
            else:
                self._more.append(snapshot)
        self.executions += 1
        return snapshot

    @property
    def snapshots(self) -> list[SnapshotRecord]:
        """The node's executions, in order."""
        if not self.executions:
            return []
        return [self] if self._more is None else [self, *self._more]

    @property
    def last_snapshot(self) -> SnapshotRecord | None:
        if self._more:
            return self._more[-1]
        return self if self.executions else None


class MessageRecord:
    __slots__ = ("at", "message", "node_id")

    def __init__(self, message: str, node_id: str | None) -> None:
        self.message = message
        self.node_id = node_id
        self.at = time.time()


class RunRecords:
    """Everything a run knows about itself; ``report()`` turns it into the upstream ``IReport``."""

    __slots__ = (
        "end",
        "errors",
        "inputs",
        "masker",
        "nodes",
        "outputs",
        "run_id",
        "secrets",
        "start",
        "status",
        "warnings",
    )

    def __init__(self, run_id: str, inputs: dict[str, Any], secrets: WorkflowSecrets | None = None) -> None:
        self.run_id = run_id
        self.inputs = inputs  # in clear: the start node reads them
        # what the workflow says is secret, and every secret value of the run: hidden in what it shows
        self.secrets = secrets or WorkflowSecrets()
        self.masker = Masker(self.secrets.constants)
        self.masker.add(*(inputs.get(name) for name in self.secrets.inputs))
        self.outputs: dict[str, Any] = {}
        self.status = Status.PENDING
        self.start: float | None = None
        self.end: float | None = None
        self.nodes: dict[str, NodeRecord] = {}
        self.errors: list[MessageRecord] = []
        self.warnings: list[MessageRecord] = []

    def start_over(self) -> None:
        """Forget what the nodes did, for a run that starts over as a whole (``RunRetrying``)."""
        self.outputs = {}
        self.nodes = {}
        self.errors = []
        self.warnings = []

    def node(self, node_id: str) -> NodeRecord:
        record = self.nodes.get(node_id)
        if record is None:
            record = self.nodes[node_id] = NodeRecord(node_id)
        return record

    def error(self, message: str, node_id: str | None = None) -> None:
        self.errors.append(MessageRecord(message, node_id))

    def warning(self, message: str, node_id: str | None = None) -> None:
        self.warnings.append(MessageRecord(message, node_id))

    @property
    def first_error(self) -> str | None:
        return self.errors[0].message if self.errors else None

    def shown_inputs(self) -> dict[str, Any]:
        """The run's inputs as recorded and shown: secret ones ``***``."""
        if not self.secrets.inputs and not self.masker:
            return self.inputs
        return self.secrets.shown_inputs(self.inputs, self.masker)

    def secret_inputs(self) -> dict[str, Any]:
        """The run's secret inputs in clear (what the store keeps encrypted for a resume)."""
        return {name: value for name, value in self.inputs.items() if name in self.secrets.inputs}

    def shown(self, value: Any) -> Any:
        """``value`` with the run's secrets hidden."""
        return self.masker.value(value)

    def report(self) -> Report:
        """The upstream ``IReport`` of the run, its secrets shown as ``***``."""
        with collector_paused():
            return self._report()

    def _report(self) -> Report:
        # Ids of snapshots and messages are derived from the run id: stable across report() calls.
        base = uuid.UUID(self.run_id).int if _is_uuid(self.run_id) else 0
        counter = iter(range(1, 1 << 62))

        def next_id() -> str:
            return str(uuid.UUID(int=(base + next(counter)) % (1 << 128)))

        hide = self.masker.value  # the value itself when the run has no secret

        # model_construct: these values are ours and already well-typed; validating them again would
        # cost more than the run itself on large workflows.
        return Report.model_construct(
            id=self.run_id,
            inputs=js_plain(self.shown_inputs()),
            outputs=js_plain(hide(self.outputs)),
            workflow_status=_status_data(self.status, self.start, self.end),
            reports={
                node_id: NodeReport.model_construct(
                    id=node_id,
                    snapshots=[_snapshot(s, next_id(), hide) for s in record.snapshots],
                    **_status_fields(record.status, record.start, record.end),
                )
                for node_id, record in self.nodes.items()
                if record.last_snapshot is not None or record.status is Status.SKIPPED
            },
            messages=Messages.model_construct(
                log=[],
                info=[],
                debug=[],
                error=[_message(m, "error", next_id(), hide) for m in self.errors],
                warning=[_message(m, "warning", next_id(), hide) for m in self.warnings],
            ),
        )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _status_fields(status: Status, start: float | None, end: float | None) -> dict[str, Any]:
    if start is None:
        return {
            "status": status,
            "terminated": status.terminated,
            "start_time": None,
            "end_time": None,
            "time_cost": 0,
        }
    finish = end if end is not None else time.time()
    return {
        "status": status,
        "terminated": status.terminated,
        "start_time": now_ms(start),
        "end_time": now_ms(end) if end is not None else None,
        "time_cost": now_ms(finish) - now_ms(start),
    }


def _status_data(status: Status, start: float | None, end: float | None) -> StatusData:
    return StatusData.model_construct(**_status_fields(status, start, end))


def _snapshot(s: SnapshotRecord, snapshot_id: str, hide: Callable[[Any], Any]) -> Snapshot:
    return Snapshot.model_construct(
        id=snapshot_id,
        node_id=s.node_id,
        inputs=js_plain(hide(s.inputs)),
        outputs=js_plain(hide(s.outputs)) if s.outputs is not None else None,
        data=hide(s.data),
        branch=s.branch,
        error=hide(s.error),
    )


def _message(m: MessageRecord, kind: str, message_id: str, hide: Callable[[Any], Any]) -> Message:
    return Message.model_construct(
        id=message_id, type=kind, message=hide(m.message), node_id=m.node_id, timestamp=now_ms(m.at)
    )


def records_from_rows(run: RunRow, nodes: Sequence[NodeRow]) -> RunRecords:
    """A recorded run as ``RunRecords`` (for its report): node executions in the order the store gives them
    (by node, then scope)."""
    records = RunRecords(run.id, run.inputs if isinstance(run.inputs, dict) else {})
    records.status = run.status
    records.outputs = run.outputs if isinstance(run.outputs, dict) else {}
    records.start, records.end = run.started_at, run.ended_at
    if run.error:
        records.error(run.error)
    for row in nodes:
        record = records.node(row.node_id)
        record.status = row.status
        record.attempts = row.attempt
        if row.status is Status.SKIPPED:
            record.skip_reason = SkipReason.UPSTREAM_FAILED
        else:
            snapshot = record.new_snapshot({}, row.scope)
            snapshot.inputs = row.inputs if isinstance(row.inputs, dict) else {}
            snapshot.outputs = row.outputs if isinstance(row.outputs, dict) else None
            snapshot.branch, snapshot.error = row.branch, row.error
        if row.started_at is not None and (record.start is None or row.started_at < record.start):
            record.start = row.started_at
        if row.ended_at is not None and (record.end is None or row.ended_at > record.end):
            record.end = row.ended_at
        if row.error and row.error != run.error:
            records.error(row.error, row.node_id)
    return records
