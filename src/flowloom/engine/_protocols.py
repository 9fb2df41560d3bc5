"""The seam between the engine and node types: what an executor is and what it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from flowloom.ir import Wait

    from ._context import NodeContext


@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a node produced. ``branch`` selects the outgoing port of a branching node (``None``: all
    ports). ``workflow_outputs`` is set by the node that ends the workflow (flowgram's ``end``)."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    branch: str | None = None
    workflow_outputs: Mapping[str, Any] | None = None


class NodeError(Exception):
    """A node failed; ``str(exc)`` is the message shown in reports (upstream's exact text)."""


@runtime_checkable
class NodeExecutor(Protocol):
    """Runs one node type. ``execute`` returns the node's result, or a ``flowloom.ir.Wait`` when the node
    must wait for the outside world: it runs again once the wait is answered, with the answer in
    ``ctx.answers``.

    Optional class flags (absent means False):
    ``entry``: a graph starts here (flowgram ``start``, ``block-start``);
    ``terminal``: the node may end a path, so it needs no outgoing edge;
    ``lightweight``: cheap and non-blocking, so it runs without taking a concurrency slot;
    ``replayed``: on resume it runs again even where it had succeeded, because what it does lives only in
    memory (a loop signal, the workflow's outputs). Container nodes (with a block) always run again; their
    block's succeeded nodes are restored;
    ``strict_join``: the node needs all its inputs: with ``on_error=continue`` a failure upstream skips it
    even when its other incoming edges were taken (a flowgram join runs on one live input).
    """

    type: ClassVar[str]

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait: ...


class ExecutorLookup(Protocol):
    """A registry of executors by node type (``flowloom.nodes.NodeRegistry``)."""

    def get(self, node_type: str) -> NodeExecutor | None: ...
