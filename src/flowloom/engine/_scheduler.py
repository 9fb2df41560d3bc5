"""The scheduler: dead-path elimination in linear time, under structured concurrency.

Every edge settles exactly once, as taken or dead. A node whose incoming edges have all settled runs if
at least one was taken; otherwise it is skipped and its outgoing edges die. A branching node takes the
edges of its chosen port and kills the rest. A chain runs in one task, and so do lightweight nodes (start,
end, conditions, markers); only nodes that may block, beyond the first, get tasks of their own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from flowloom.ir import (
    UNDEFINED,
    Event,
    NodeCanceled,
    NodeEvent,
    NodeFailed,
    NodeRetrying,
    NodeRow,
    NodeSkipped,
    OnError,
    SkipReason,
    Status,
    Wait,
    WaitRow,
)

from ._bus import EventBus, NodeRecordFields, RunEvents
from ._cache import ResultCache, cache_key
from ._context import NodeContext, NodeSlot
from ._errors import BlockFailed, BlockWaiting, NodeError, NodeTimeout, message_of
from ._graph import GraphRun, NodeFailure
from ._limits import Slots
from ._plan import CompiledNode, CompiledWorkflow
from ._protocols import NodeExecutor, NodeResult
from ._records import NodeRecord, RunRecords, SnapshotRecord
from ._scope import Scope
from ._services import Services
from ._values import SecretNotSetError, same_type

if TYPE_CHECKING:
    pass

Restored = dict[tuple[str, tuple[int, ...]], NodeRow]
"""Succeeded executions of an earlier attempt at a run, by (node id, scope): restored, not run again."""

Answers = dict[tuple[str, tuple[int, ...]], dict[str, Any]]
"""Payloads of a run's answered waits, by (node id, scope), then key: what ``NodeContext.answers`` gives."""


def default_wait_key(node_id: str, scope: tuple[int, ...]) -> str:
    """The key of a wait that names none: the node's id, with its loop iteration (``node[2/0]``)."""
    return f"{node_id}[{'/'.join(map(str, scope))}]" if scope else node_id


E = TypeVar("E", bound=NodeEvent)


class RunDriver:
    """Executes one run of a compiled workflow, writing its records and events."""

    def __init__(
        self,
        *,
        compiled: CompiledWorkflow,
        records: RunRecords,
        bus: EventBus,
        services: Services,
        limiter: Slots,
        root_scope: Scope,
        events: RunEvents,
        cache: ResultCache | None = None,
        restored: Restored | None = None,
        copy_restored: bool = False,
        answers: Answers | None = None,
        open_waits: dict[str, WaitRow] | None = None,
    ) -> None:
        self.compiled = compiled
        self.records = records
        self.bus = bus
        self.services = services
        self.limiter = limiter
        self.parallel = limiter.total  # how many nodes may run at once
        self.root_scope = root_scope
        self.events = events
        self.cache = cache
        self.restored = restored or None
        self.copy_restored = copy_restored  # a new run from an old one's records: its history is copied
        self.on_error = compiled.settings.on_error
        self.failed = False
        self.answers: Answers = answers or {}
        self.open_waits = open_waits or {}  # the run's waits still open when it was resumed, by key
        self.waits: list[WaitRow] = []  # the waits this execution of the run ended on

    @property
    def parked(self) -> bool:
        """The run can go no further until a wait is answered (a failure that stops the run wins)."""
        return bool(self.waits) and not (self.failed and self.on_error is OnError.STOP)

    async def run(self) -> None:
        """Run the root graph. Sets the run status; never raises for node failures."""
        try:
            await GraphRun(self, self.compiled.root, self.root_scope).run()
        except NodeFailure:
            self.failed = True

    @property
    def run_id(self) -> str:
        return self.records.run_id

    @property
    def run_inputs(self) -> dict[str, Any]:
        return self.records.inputs

    async def run_block(self, container: NodeSlot, scope: Scope) -> None:
        assert isinstance(container, CompiledNode) and container.block is not None
        graph = GraphRun(self, container.block, scope)
        try:
            await graph.run()
        except NodeFailure as exc:
            raise BlockFailed(str(exc)) from None
        if graph.failure is not None:
            raise BlockFailed(graph.failure)
        if graph.waiting:
            raise BlockWaiting

    @property
    def observed(self) -> bool:
        """Whether events are wanted: someone listens on the bus, or the run is recorded."""
        return self.events.observed

    @property
    def listened(self) -> bool:
        """Whether someone listens on the bus."""
        return self.bus.active

    def publish(self, event: Event) -> None:
        self.events.publish(event)

    def attempt(self, node_id: str) -> int:
        return self.records.node(node_id).attempts

    def hide(self, *values: Any) -> None:
        self.records.masker.add(*values)

    def set_snapshot_inputs(self, node_id: str, inputs: dict[str, Any]) -> None:
        snapshot = self.records.nodes[node_id].last_snapshot
        assert snapshot is not None, "a running node has a snapshot"
        snapshot.inputs = inputs

    async def execute(self, graph: GraphRun, index: int) -> list[int]:
        """Run one node, settle its edges, and return its successors that are now ready."""
        cnode = graph.plan.nodes[index]
        node = cnode.node
        path = graph.scope.path
        trigger = None
        if cnode.reentrant:  # each activation is an execution of its own, its count ending its path
            trigger = graph.activate(index)
            path = (*path, trigger.count)
        if self.restored is not None and cnode.restorable:
            row = self.restored.pop((node.id, path), None)
            if row is not None:
                return self._restore(graph, cnode, row)
        records = self.records
        record = records.nodes.get(node.id)
        if record is None:
            record = records.nodes[node.id] = NodeRecord(node.id)
        snapshot = record.new_snapshot(node.data, path)
        record.status = Status.PROCESSING
        started = record.start = time.time()
        record.end = None
        events = self.events
        events.node_started(node, path, started)
        cached = False
        result: NodeResult | Wait
        try:
            snapshot.inputs = inputs = self._resolve_inputs(cnode, graph.scope)
            if trigger is not None and trigger.count >= cnode.max_activations:
                raise NodeError(
                    f'Node "{node.id}" was activated more than {cnode.max_activations} times '
                    "(a loop that does not end?)"
                )
            executor = cnode.executor
            if executor is None:
                raise NodeError(f"No executor found for node type {node.type}")
            key = None
            if node.cache is not None and self.cache is not None:
                # an entry node with no incoming edge may read the run's inputs: they are part of its
                # fingerprint (a flowengine root node, for one)
                seen = (inputs, self.run_inputs) if cnode.entry and not cnode.in_degree else inputs
                key = cache_key(node.type, node.data, seen)
                hit = await self.cache.get(key) if key is not None else None
                if hit is not None:
                    result, cached, key = hit, True, None
            if not cached:
                context = (
                    NodeContext(port=self, slot=cnode, inputs=inputs, scope=graph.scope)
                    if trigger is None
                    else NodeContext(
                        port=self,
                        slot=cnode,
                        inputs=inputs,
                        scope=graph.scope,
                        trigger=trigger,
                        graph=graph.plan,
                    )
                )
                if cnode.direct and cnode.lightweight:
                    record.attempts = 1
                    result = await executor.execute(context)
                elif node.deadline_s is None:
                    result = await self._attempts(cnode, executor, context, record)
                else:
                    result = await self._bounded(cnode, executor, context, record, node.deadline_s)
                if key is not None and isinstance(result, NodeResult):
                    await self.cache.put(key, result, node.cache.ttl_s)  # type: ignore[union-attr]
        except BlockWaiting:
            return self._wait(graph, cnode, record, None, path)
        except Exception as exc:
            return await self._fail(graph, cnode, snapshot, record, message_of(exc), path)
        except BaseException:  # cancellation (asyncio or trio): the node stops where it is
            record.status = Status.CANCELED
            record.end = time.time()
            canceled: NodeRecordFields = {
                "status": Status.CANCELED,
                "inputs": snapshot.inputs,
                "started_at": started,
            }
            events.node_ended(NodeCanceled, node, path, record.end, canceled)
            raise
        if type(result) is Wait:  # (a type check: the cheapest test on the hot path)
            try:
                return self._wait(graph, cnode, record, result, path)
            except NodeError as exc:
                return await self._fail(graph, cnode, snapshot, record, str(exc), path)
        assert isinstance(result, NodeResult)
        outputs = result.outputs if type(result.outputs) is dict else dict(result.outputs)
        snapshot.outputs = outputs
        branch = snapshot.branch = result.branch
        graph.scope.set_outputs(node.id, cnode.outputs, outputs)
        if result.workflow_outputs is not None:
            records.outputs = dict(result.workflow_outputs)
        record.status = Status.SUCCEEDED
        finished = record.end = time.time()
        events.node_succeeded(
            node, path, record.attempts, snapshot.inputs, outputs, branch, started, finished, cached
        )
        await events.commit()  # durable before any successor starts
        if not cnode.out_edges:
            if cnode.terminal:
                return []
            # Deviation D3: a dead end fails where it is, with a message.
            return await self._fail(
                graph, cnode, snapshot, record, f'Node "{node.id}" has no next nodes', path
            )
        if branch is not None and branch not in cnode.ports:
            # Upstream keeps the node succeeded and fails the workflow with this message.
            message = f'Branch "{branch}" not found'
            snapshot.error = message
            records.error(message, node.id)
            return await self._abort(graph, cnode, message)
        if graph.activations is not None:
            return graph.settle_any(cnode, branch, outputs)
        return graph.settle(cnode, branch)

    def _wait(
        self,
        graph: GraphRun,
        cnode: CompiledNode,
        record: NodeRecord,
        wait: Wait | None,
        path: tuple[int, ...],
    ) -> list[int]:
        """The node waits (``wait``; ``None``: a node inside its block does): recorded ``waiting``, its
        outgoing edges left unsettled, so nothing after it runs; the rest of the run goes on. A wait asked
        again while it is open keeps when it was made and its ``until`` (a ``durationS`` counts once)."""
        node = cnode.node
        if wait is not None:
            key = wait.key or default_wait_key(node.id, path)
            if key in self.answers.get((node.id, path), ()):
                raise NodeError(f'Node "{node.id}" waits again for "{key}", which was answered already')
            if not self.events.recorded:
                raise NodeError(
                    f'Node "{node.id}" waits ({wait.reason}), but the run is not recorded: a waiting run '
                    "is resumed from its store, so give the engine a store"
                )
            earlier = self.open_waits.get(key)
            self.waits.append(
                WaitRow(
                    run_id=self.records.run_id,
                    key=key,
                    node_id=node.id,
                    scope=path,
                    reason=wait.reason,
                    prompt=wait.prompt,
                    choices=list(wait.choices) if wait.choices is not None else None,
                    until=earlier.until if earlier is not None else wait.until,
                    details=dict(wait.details),
                    created_at=earlier.created_at if earlier is not None else time.time(),
                )
            )
        graph.waiting = True
        record.status = Status.WAITING
        snapshot = self.records.nodes[node.id].last_snapshot
        assert snapshot is not None, "a waiting node has a snapshot"
        waiting: NodeRecordFields = {
            "status": Status.WAITING,
            "attempt": record.attempts,
            "inputs": snapshot.inputs,
            "started_at": record.start,
        }
        self.events.record(node.id, path, waiting)
        return []

    def _restore(self, graph: GraphRun, cnode: CompiledNode, row: NodeRow) -> list[int]:
        """Take a node's execution from an earlier attempt at the run instead of running it again."""
        node = cnode.node
        record = self.records.node(node.id)
        snapshot = record.new_snapshot(node.data, row.scope)
        snapshot.inputs = row.inputs if isinstance(row.inputs, dict) else {}
        outputs = row.outputs if isinstance(row.outputs, dict) else {}
        snapshot.outputs = outputs
        snapshot.branch = row.branch
        record.status = Status.SUCCEEDED
        record.start, record.end, record.attempts = row.started_at, row.ended_at, row.attempt
        graph.scope.set_outputs(node.id, cnode.outputs, outputs)
        if self.copy_restored:
            copied: NodeRecordFields = {
                "status": Status.SUCCEEDED,
                "attempt": row.attempt,
                "inputs": row.inputs,
                "outputs": row.outputs,
                "branch": row.branch,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "cached": row.cached,
            }
            self.events.record(node.id, row.scope, copied)
        if graph.activations is not None:
            return graph.settle_any(cnode, row.branch, outputs)
        return graph.settle(cnode, row.branch)

    def _resolve_inputs(self, cnode: CompiledNode, scope: Scope) -> dict[str, Any]:
        """Bind declared inputs; a value of another type than declared is dropped with a warning (D10)."""
        inputs: dict[str, Any] = {}
        for binding in cnode.inputs:
            try:
                value, vtype, _items = binding.resolve(scope)
            except SecretNotSetError as exc:
                raise NodeError(f'Node "{cnode.id}" input "{binding.name}": {exc}') from exc
            if value is None or value is UNDEFINED:
                continue
            if binding.hidden:
                self.records.masker.add(value)
            declared = binding.declared
            if declared is not None and not same_type(vtype, declared):
                self.records.warning(
                    f'Input "{binding.name}" of node "{cnode.id}" dropped: resolved type {vtype} '
                    f"does not match declared type {declared}",
                    cnode.id,
                )
                continue
            inputs[binding.name] = value
        return inputs

    async def _attempts(
        self, cnode: CompiledNode, executor: NodeExecutor, context: NodeContext, record: NodeRecord
    ) -> NodeResult | Wait:
        """Run the executor under the node's timeout and retry policy."""
        policy = cnode.retry
        timeout = cnode.node.timeout_s
        attempt = 0
        while True:
            attempt += 1
            record.attempts = attempt
            try:
                if cnode.lightweight and timeout is None:
                    return await executor.execute(context)
                async with self.limiter:
                    if timeout is None:
                        return await executor.execute(context)
                    with anyio.move_on_after(timeout):
                        return await executor.execute(context)
                raise NodeTimeout(f'Node "{cnode.id}" timed out after {timeout:g}s')
            except BlockWaiting:
                raise
            except Exception as exc:
                if (
                    policy is None
                    or attempt >= policy.max_attempts
                    or (isinstance(exc, NodeTimeout) and not policy.retry_on_timeout)
                ):
                    raise
                delay = policy.delay_before(attempt + 1)
                self.events.node_event(
                    NodeRetrying,
                    cnode.node,
                    context.scope_path,
                    time.time(),
                    error=message_of(exc),
                    attempt=attempt,
                    delay_s=delay,
                )
                await anyio.sleep(delay)

    async def _bounded(
        self,
        cnode: CompiledNode,
        executor: NodeExecutor,
        context: NodeContext,
        record: NodeRecord,
        deadline_s: float,
    ) -> NodeResult | Wait:
        """``_attempts`` under the node's deadline: every attempt and retry delay together."""
        with anyio.move_on_after(deadline_s):
            return await self._attempts(cnode, executor, context, record)
        raise NodeTimeout(f"Timeout after {deadline_s * 1000:g}ms")

    async def _fail(
        self,
        graph: GraphRun,
        cnode: CompiledNode,
        snapshot: SnapshotRecord,
        record: NodeRecord,
        message: str,
        path: tuple[int, ...] | None = None,
    ) -> list[int]:
        if path is None:
            path = graph.scope.path
        snapshot.error = message
        record.status = Status.FAILED
        record.end = time.time()
        self.records.error(message, cnode.id)
        failed: NodeRecordFields = {
            "status": Status.FAILED,
            "attempt": record.attempts,
            "inputs": snapshot.inputs,
            "outputs": snapshot.outputs,
            "branch": snapshot.branch,
            "error": message,
            "started_at": record.start,
            "ended_at": record.end,
        }
        self.events.node_ended(
            NodeFailed,
            cnode.node,
            path,
            record.end,
            failed,
            error=message,
            duration_s=record.end - (record.start or record.end),
            attempt=record.attempts,
        )
        return await self._abort(graph, cnode, message)

    async def _abort(self, graph: GraphRun, cnode: CompiledNode, message: str) -> list[int]:
        """A recorded failure: end the graph (stop), kill the node's outgoing paths (continue), or settle
        them as if it had succeeded without outputs (proceed)."""
        if self.on_error is OnError.PROCEED:
            return graph.settle(cnode, None)
        self.failed = True
        if graph.failure is None:
            graph.failure = message
        await self.events.commit()
        if self.on_error is OnError.STOP:
            raise NodeFailure(message)
        if graph.activations is not None:
            return graph.settle_any(cnode, None, None, failed=True)
        return graph.settle(cnode, None, failed=True)

    def record_skip(self, graph: GraphRun, cnode: CompiledNode) -> None:
        record = self.records.node(cnode.id)
        record.status = Status.SKIPPED
        record.skip_reason = SkipReason.UPSTREAM_FAILED
        record.start = record.end = time.time()
        skipped: NodeRecordFields = {
            "status": Status.SKIPPED,
            "started_at": record.start,
            "ended_at": record.end,
        }
        self.events.node_ended(
            NodeSkipped, cnode.node, graph.scope.path, record.end, skipped, reason=SkipReason.UPSTREAM_FAILED
        )
