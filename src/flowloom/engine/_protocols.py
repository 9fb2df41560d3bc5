"""The seam between the engine and node types: what an executor is, the traits it may declare, and what
it returns."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from flowloom.ir import Node, Source, Wait, Workflow

    from ._context import NodeContext


@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a node produced. ``branch`` selects the outgoing port of a branching node (``None``: all
    ports). ``workflow_outputs`` is set by the node that ends the workflow (flowgram's ``end``)."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    branch: str | None = None
    workflow_outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Traits:
    """How the engine schedules the nodes of an executor's type. Every trait is off unless declared, as a
    class attribute ``traits: ClassVar[Traits] = Traits(...)`` on the executor.

    ``entry``: a graph starts here (flowgram ``start``, ``block-start``).
    ``terminal``: the node may end a path, so it needs no outgoing edge.
    ``lightweight``: cheap and non-blocking, so it runs without taking a concurrency slot.
    ``replayed``: on resume it runs again even where it had succeeded, because what it does lives only in
    memory (a loop signal, the workflow's outputs). Container nodes (with a block) always run again;
    their block's succeeded nodes are restored.
    ``strict_join``: the node needs all its inputs: with ``on_error=continue`` a failure upstream skips it
    even when its other incoming edges were taken (a flowgram join runs on one live input).
    """

    entry: bool = False
    terminal: bool = False
    lightweight: bool = False
    replayed: bool = False
    strict_join: bool = False


NO_TRAITS = Traits()


@runtime_checkable
class NodeExecutor(Protocol):
    """Runs one node type: a class attribute ``type`` and ``async execute(ctx)``. It may declare
    ``traits`` (see ``Traits``); one that does not gets none. ``execute`` returns the node's result, or a
    ``flowloom.ir.Wait`` when the node must wait for the outside world: it runs again once the wait is
    answered, with the answer in ``ctx.answers``."""

    type: ClassVar[str]

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait: ...


@runtime_checkable
class DeclaresTraits(Protocol):
    """An executor that declares its traits."""

    traits: ClassVar[Traits]


def traits_of(executor: NodeExecutor) -> Traits:
    """The traits ``executor`` declares, or none. Raises ``TypeError`` when ``traits`` is not a ``Traits``."""
    if not isinstance(executor, DeclaresTraits):
        return NO_TRAITS
    traits = executor.traits
    if not isinstance(traits, Traits):
        raise TypeError(
            f"{type(executor).__name__}.traits must be a flowloom.Traits, got {type(traits).__name__}"
        )
    return traits


@runtime_checkable
class DeclaresPorts(Protocol):
    """An executor that names the output ports a node of its type has (a condition: one per condition,
    and ``else``). Edges from any other port are refused when the workflow is checked; an executor that
    does not declare its ports accepts edges from any port."""

    def output_ports(self, node: Node) -> Collection[str]: ...


@runtime_checkable
class ChecksConfig(Protocol):
    """An executor that checks a node's configuration (``node.data``) before anything runs: every problem
    as a message naming the node and the key. The workflow is refused when there is one."""

    def config_errors(self, node: Node) -> list[str]: ...


class ExecutorLookup(Protocol):
    """A registry of executors by node type (``flowloom.nodes.NodeRegistry``)."""

    def get(self, node_type: str) -> NodeExecutor | None: ...


@runtime_checkable
class ExecutorRegistry(ExecutorLookup, Protocol):
    """An ``ExecutorLookup`` that lists its executors and takes new ones (``flowloom.nodes.NodeRegistry``)."""

    def register(self, executor: NodeExecutor, *, replace: bool = False) -> None: ...

    def __iter__(self) -> Iterator[NodeExecutor]: ...


class LoadedDocument(Protocol):
    """A document read into the IR by its format (``flowloom.formats.LoadedWorkflow``)."""

    @property
    def workflow(self) -> Workflow: ...

    @property
    def check_inputs(self) -> Callable[[Mapping[str, Any]], list[str]] | None: ...

    @property
    def lenient_node_types(self) -> bool: ...

    @property
    def problems(self) -> tuple[tuple[str, str | None], ...]:
        """(message, node id) of what the format read but could not use: warnings of each run."""


class FormatLookup(Protocol):
    """The workflow formats an engine reads (``flowloom.formats.FormatRegistry``)."""

    def read(self, source: Source) -> tuple[Any, str]:
        """The parsed document of ``source`` and a hash of its content."""

    def load(self, document: Any, format: str | None = None) -> LoadedDocument:
        """``document`` in ``format`` (default: detected); ``InvalidWorkflowError`` listing its problems."""
