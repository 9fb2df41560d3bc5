"""What a node executor may use while it runs: ``NodeContext``. The context reaches the run executing the
node only through ``RunPort``, a small protocol the scheduler implements, so neither an executor nor
this module depends on a scheduler type."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Set
from typing import Any, Protocol, TypeVar, cast

from flowloom.ir import LOOP_LOCALS_SUFFIX, Event, Node, NodeEvent, NodeLog, WorkKey

from ._activation import Trigger
from ._errors import NodeError
from ._scope import Scope
from ._secrets import is_secret_ref, is_sensitive
from ._services import Services
from ._values import Resolver, SecretNotSetError, TypedValue
from ._workers import LOCAL_WORKERS, WORKERS_KEY, NodeWorkers

T = TypeVar("T")
_NO_ANSWERS: Mapping[str, Any] = {}


class NodeSlot(Protocol):
    """The compiled node an execution belongs to, as its context sees it: the node, and the cell where
    ``NodeContext.prepared`` keeps what an executor derived from the node."""

    node: Node
    prepared: Any


class GraphSlots(Protocol):
    """The graph level an execution runs in, as its context sees it: its nodes by id (for pulls)."""

    def slot(self, node_id: str) -> PulledSlot | None: ...


class PulledSlot(NodeSlot, Protocol):
    """A node that is pulled rather than scheduled (activation ``pull``), and its executor."""

    @property
    def puller(self) -> Any: ...


class RunPort(Protocol):
    """What a node's context needs from the run executing the node (the scheduler's ``RunDriver``)."""

    services: Services

    @property
    def run_id(self) -> str: ...

    @property
    def run_inputs(self) -> dict[str, Any]: ...

    @property
    def observed(self) -> bool:
        """Whether events are wanted: someone listens, or the run is recorded."""

    @property
    def listened(self) -> bool:
        """Whether someone listens to the engine's events live."""

    @property
    def answers(self) -> Mapping[tuple[str, tuple[int, ...]], Mapping[str, Any]]:
        """Payloads of the run's answered waits, by (node id, scope), then wait key."""

    def attempt(self, node_id: str) -> int:
        """Which attempt (1, 2, ...) the node's running execution is."""

    def publish(self, event: Event) -> None: ...

    def set_snapshot_inputs(self, node_id: str, inputs: dict[str, Any]) -> None:
        """Replace what the report shows as the running execution's inputs."""

    def hide(self, *values: Any) -> None:
        """Make ``values`` secrets of the run: shown and recorded as ``***`` from now on."""

    async def run_block(self, container: NodeSlot, scope: Scope) -> None:
        """Run ``container``'s block once in ``scope``; a failure inside raises ``BlockFailed``."""


class Iteration:
    """One run of a container node's block (a loop iteration): the signals its nodes raised and its
    variables."""

    __slots__ = ("_scope",)

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    @property
    def signals(self) -> Set[str]:
        """Flags raised in the iteration (``break``, ``continue``): see ``NodeContext.signal``."""
        return self._scope.signals

    def resolve(self, value: Resolver) -> TypedValue:
        """A compiled flow value resolved in the iteration's scope (its variables, then the outer ones)."""
        return value(self._scope)


class NodeContext:
    """What an executor gets for one execution: the node, its resolved ``inputs``, its ``data``, the
    engine's ``services``, events and logs, flow values resolved in the node's scope, and, for container
    nodes, ``run_block``. Nothing of the scheduler."""

    __slots__ = (
        "_graph",
        "_path",
        "_port",
        "_scope",
        "_slot",
        "_workers",
        "inputs",
        "node",
        "services",
        "trigger",
    )

    def __init__(
        self,
        *,
        port: RunPort,
        slot: NodeSlot,
        inputs: dict[str, Any],
        scope: Scope,
        trigger: Trigger | None = None,
        graph: GraphSlots | None = None,
    ) -> None:
        self._port = port
        self._slot = slot
        self._scope = scope
        self.node: Node = slot.node
        self.inputs = inputs
        self.services = port.services
        self.trigger = trigger  # a re-entrant node's activation: the edge it came along, and its count
        self._graph = graph
        self._path = scope.path if trigger is None else (*scope.path, trigger.count)
        self._workers: NodeWorkers | None = None  # the view of the current attempt, made on first use

    @property
    def data(self) -> dict[str, Any]:
        """The node's data (flowgram's ``data`` without its declarations)."""
        return self.node.data

    @property
    def run_id(self) -> str:
        return self._port.run_id

    @property
    def answers(self) -> Mapping[str, Any]:
        """The payloads of this execution's answered waits, by key (empty until one is answered): an
        executor that returned a ``Wait`` runs again with its answer here."""
        return self._port.answers.get((self.node.id, self._path), _NO_ANSWERS)

    @property
    def workers(self) -> NodeWorkers:
        """Where this execution's blocking, CPU-bound or untrusted work runs; executors start no threads
        or processes of their own."""
        port, node = self._port, self.node
        attempt = port.attempt(node.id)
        view = self._workers
        if view is not None and view.key.attempt == attempt:
            return view
        # The context lives as long as the execution; each attempt (a retry) gets a view of its own key.
        key = WorkKey(port.run_id, node.id, self._path, attempt)
        services = self.services
        if services.local_workers is not None and node.data.get(WORKERS_KEY) == LOCAL_WORKERS:
            view = NodeWorkers(services.local_workers, key)
        else:
            view = NodeWorkers(services.workers, key)
        self._workers = view
        return view

    @property
    def run_inputs(self) -> dict[str, Any]:
        """The inputs the run was started with."""
        return self._port.run_inputs

    @property
    def scope_path(self) -> tuple[int, ...]:
        """Where this execution is: ``()`` at the workflow's level, ``(i,)`` in a loop's iteration ``i``,
        ``(i, j)`` in a nested loop's, ...; a re-entrant node's activation count is appended."""
        return self._path

    def pulled_node(self, node_id: str) -> Node | None:
        """The node ``node_id`` of this graph level if it is pulled rather than scheduled (activation
        ``pull``: a data-only node), else ``None``."""
        slot = self._graph.slot(node_id) if self._graph is not None else None
        return slot.node if slot is not None else None

    def pulled_executor(self, node_id: str) -> Any:
        """The executor a pull of ``node_id`` runs (``None`` when it is not a pulled node or has none):
        a consumer that compiles its pulls once may call a known executor's parts directly."""
        slot = self._graph.slot(node_id) if self._graph is not None else None
        return slot.puller if slot is not None else None

    async def pull(self, node_id: str, inputs: dict[str, Any]) -> Mapping[str, Any]:
        """Run the pulled node ``node_id`` with ``inputs`` (resolved by the caller) and return its outputs.
        A pulled node is computed again at every pull and is not recorded; its error is the caller's."""
        slot = self._graph.slot(node_id) if self._graph is not None else None
        if slot is None:
            raise LookupError(f'node "{node_id}" is not a pulled node of this graph')
        executor = slot.puller
        if executor is None:
            raise LookupError(f"No executor found for node type {slot.node.type}")
        context = NodeContext(port=self._port, slot=slot, inputs=inputs, scope=self._scope, graph=self._graph)
        result = await executor.execute(context)
        return cast(Mapping[str, Any], result.outputs)

    def prepared(self, build: Callable[[Node], T]) -> T:
        """What ``build`` derives from this node (compiled operands, parsed settings), computed on the
        node's first execution and kept with the plan."""
        slot = self._slot
        if slot.prepared is None:
            slot.prepared = build(slot.node)
        return cast(T, slot.prepared)

    def resolve(self, value: Resolver) -> TypedValue:
        """A flow value compiled with ``compile_flow_value`` (once, e.g. in ``prepared``), resolved in
        this node's scope."""
        return value(self._scope)

    def set_variable(self, key: str, value: TypedValue) -> None:
        """Make ``value`` this node's variable ``key`` with its type as given (e.g. an array's items type),
        for refs in later nodes; declared outputs of the same name take precedence."""
        self._scope.set(self.node.id, key, value)

    def set_snapshot_inputs(self, inputs: dict[str, Any]) -> None:
        """Replace what the report shows as this execution's inputs (upstream's HTTP node does)."""
        self._port.set_snapshot_inputs(self.node.id, inputs)

    def hide(self, *values: Any) -> None:
        """Make ``values`` (e.g. an ``Authorization`` header) secrets of the run: its reports, events,
        records and logs show ``***`` instead from now on."""
        self._port.hide(*values)

    def secret(self, name: str) -> str:
        """The secret ``name`` (read from the environment now, never stored), hidden in what the run shows
        and records from now on. ``NodeError`` naming the node when it is not set."""
        try:
            return self._scope.secret(name)
        except SecretNotSetError as exc:
            raise NodeError(f'node "{self.node.id}": {exc}') from exc

    def with_secrets(self, value: Any) -> Any:
        """``value`` (e.g. a node's config) with every secret by name in it, ``{"type": "secret", "content":
        NAME}``, replaced by the secret (``secret(NAME)``); ``value`` itself when it holds none."""
        if isinstance(value, Mapping):
            if is_secret_ref(value):
                return self.secret(value["content"])
            items = {key: self.with_secrets(item) for key, item in value.items()}
            return items if any(items[key] is not value[key] for key in items) else value
        if isinstance(value, list):
            listed = [self.with_secrets(item) for item in value]
            return listed if any(a is not b for a, b in zip(listed, value, strict=True)) else value
        return value

    def hide_sensitive(self, named: Mapping[str, Any]) -> None:
        """Hide the values of ``named`` whose names are sensitive (``Authorization``, ``Cookie``,
        ``X-Api-Key``, ``apiKey``, ``password``, ...): HTTP headers, settings."""
        self._port.hide(*(value for name, value in named.items() if is_sensitive(str(name))))

    def signal(self, name: str) -> None:
        """Raise a flag on the enclosing loop iteration (``break``, ``continue``)."""
        self._scope.signal(name)

    @property
    def observed(self) -> bool:
        """Whether anyone listens to the engine's events (worth streaming progress to)."""
        return self._port.listened

    def emit(self, event: Event) -> None:
        port = self._port
        if port.observed:
            port.publish(event)

    def emit_node_event(self, event: type[NodeEvent], **fields: Any) -> None:
        """Publish an event about this node (``LLMDelta``, ``NodeProgress``, ...): run, node and scope are
        filled in. Costs nothing when nobody listens and the run is not recorded."""
        port = self._port
        if port.observed:
            node = self.node
            port.publish(
                event(
                    run_id=port.run_id,
                    at=time.time(),
                    node_id=node.id,
                    node_type=node.type,
                    scope=self._path,
                    **fields,
                )
            )

    def log(self, line: str, stream: str = "stdout") -> None:
        self.emit_node_event(NodeLog, stream=stream, line=line)

    async def run_block(self, index: int, locals_: Mapping[str, TypedValue]) -> Iteration:
        """Run this node's block (loop body) once in a child scope holding ``<nodeID>_locals``. Returns
        the iteration (its signals and variables). A failure inside raises ``BlockFailed``."""
        scope = self._scope.child(index)
        locals_id = self.node.id + LOOP_LOCALS_SUFFIX
        for key, value in locals_.items():
            scope.set(locals_id, key, value)
        await self._port.run_block(self._slot, scope)
        return Iteration(scope)
