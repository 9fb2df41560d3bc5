"""What a node executor sees: its node, resolved inputs, a way to resolve values, events, and (for
container nodes) ``run_block``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flowloom.ir import LOOP_LOCALS_SUFFIX, Event, Node, NodeEvent, NodeLog, WorkKey

from ._scope import Scope
from ._values import Resolver, TypedValue
from ._workers import NodeWorkers

T = TypeVar("T")

if TYPE_CHECKING:
    from ._plan import CompiledNode
    from ._scheduler import RunDriver


class NodeContext:
    """Narrow by design: executors get what they need, not the engine."""

    __slots__ = ("_cnode", "_driver", "inputs", "node", "scope", "services")

    def __init__(
        self,
        *,
        driver: RunDriver,
        cnode: CompiledNode,
        inputs: dict[str, Any],
        scope: Scope,
    ) -> None:
        self._driver = driver
        self._cnode = cnode
        self.node: Node = cnode.node
        self.inputs = inputs
        self.scope = scope
        self.services = driver.services

    @property
    def data(self) -> dict[str, Any]:
        return self.node.data

    @property
    def run_id(self) -> str:
        return self._driver.records.run_id

    @property
    def workers(self) -> NodeWorkers:
        """Where this execution's blocking, CPU-bound or untrusted work runs; executors start no threads
        or processes of their own."""
        records, node_id = self._driver.records, self.node.id
        key = WorkKey(records.run_id, node_id, self.scope.path, records.node(node_id).attempts)
        return NodeWorkers(self.services.workers, key)

    @property
    def run_inputs(self) -> dict[str, Any]:
        return self._driver.records.inputs

    def prepared(self, build: Callable[[Node], T]) -> T:
        """What ``build`` derives from this node (compiled operands, parsed settings), computed on the
        node's first execution and kept with the plan."""
        cnode = self._cnode
        if cnode.prepared is None:
            cnode.prepared = build(cnode.node)
        return cast(T, cnode.prepared)

    def resolve(self, resolver: Resolver, scope: Scope | None = None) -> TypedValue:
        """Resolve a compiled flow value in this node's scope (or in ``scope``, e.g. an iteration's)."""
        return resolver(scope if scope is not None else self.scope)

    def set_snapshot_inputs(self, inputs: dict[str, Any]) -> None:
        """Replace what the report shows as this execution's inputs (upstream's HTTP node does)."""
        self._driver.current_snapshot(self.node.id).inputs = inputs

    def signal(self, name: str) -> None:
        """Raise a flag on the enclosing loop iteration (``break``, ``continue``)."""
        self.scope.signal(name)

    @property
    def observed(self) -> bool:
        """Whether anyone listens to the engine's events (worth streaming progress to)."""
        return self._driver.bus.active

    def emit(self, event: Event) -> None:
        if self._driver.observed:
            self._driver.publish(event)

    def emit_node_event(self, event: type[NodeEvent], **fields: Any) -> None:
        """Publish an event about this node (``LLMDelta``, ``NodeProgress``, ...): run, node and scope are
        filled in. Costs nothing when nobody listens and the run is not recorded."""
        if self._driver.observed:
            node = self.node
            self._driver.publish(
                event(
                    run_id=self.run_id,
                    at=time.time(),
                    node_id=node.id,
                    node_type=node.type,
                    scope=self.scope.path,
                    **fields,
                )
            )

    def log(self, line: str, stream: str = "stdout") -> None:
        self.emit_node_event(NodeLog, stream=stream, line=line)

    async def run_block(self, index: int, locals_: Mapping[str, TypedValue]) -> Scope:
        """Run this node's block (loop body) once in a child scope holding ``<nodeID>_locals``.
        Returns the iteration's scope (signals, variables). A failure inside raises ``BlockFailed``."""
        scope = self.scope.child(index)
        locals_id = self.node.id + LOOP_LOCALS_SUFFIX
        for key, value in locals_.items():
            scope.set(locals_id, key, value)
        await self._driver.run_block(self._cnode, scope)
        return scope
