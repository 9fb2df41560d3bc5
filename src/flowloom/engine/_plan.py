"""Compilation of a workflow into an immutable plan: integer indexes, successor lists, predecessor counts,
compiled input resolvers and block (loop body) sub-plans. Iterative over nodes and edges, so a
100,000-node chain compiles without recursion; only block nesting recurses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowloom.ir import (
    UNDEFINED,
    Activation,
    Edge,
    Node,
    RetryPolicy,
    VariableType,
    Workflow,
    WorkflowSettings,
)

from ._protocols import NO_TRAITS, ExecutorLookup, NodeExecutor, Traits, traits_of
from ._refs import reference_problems
from ._scope import OutputSpec
from ._secrets import is_sensitive
from ._values import Resolver, compile_flow_value, declared_type, items_type_of, parse_declared


@dataclass(frozen=True, slots=True)
class CompiledInput:
    """A declared input: how its value is resolved at run time, and the type it is declared with."""

    name: str
    resolve: Resolver
    declared: VariableType | None
    hidden: bool = False  # a sensitive name (``apiKey``): its value is a secret of the run once resolved


@dataclass(slots=True)
class CompiledNode:
    """A node as the scheduler runs it: its executor, compiled inputs and outputs, and its place in the
    graph (outgoing edges, in-degree, loop body)."""

    index: int
    node: Node
    executor: NodeExecutor | None
    inputs: tuple[CompiledInput, ...]
    outputs: Mapping[str, OutputSpec]  # by name, in declaration order
    out_edges: tuple[tuple[str, int], ...]  # (source port, target index), deduplicated
    ports: frozenset[str]  # the source ports of out_edges
    in_degree: int
    block: Plan | None
    retry: RetryPolicy | None
    entry: bool  # the executor's traits (see Traits), read once at compile
    terminal: bool
    lightweight: bool
    direct: bool  # no timeout and no retry policy: the executor is awaited as it is
    restorable: bool  # on resume, a succeeded execution is restored rather than run again
    strict_join: bool = False  # a failure upstream skips the node even when other inputs arrived
    reentrant: bool = False  # activation ``any``: each taken incoming edge runs it once more
    max_activations: int = 0  # reentrant nodes: a further activation fails the node
    prepared: Any = None  # what the executor derived from the node once (see NodeContext.prepared)

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def puller(self) -> NodeExecutor | None:
        """The executor a pull runs (see ``NodeContext.pull``)."""
        return self.executor


@dataclass(frozen=True, slots=True)
class Plan:
    """One graph level: the workflow, or a loop body."""

    nodes: tuple[CompiledNode, ...]
    entries: tuple[int, ...]
    by_id: dict[str, int]
    reentrant: bool = False  # some node has activation ``any``: edges settle through ``settle_any``

    def slot(self, node_id: str) -> CompiledNode | None:
        """The node ``node_id`` if it is pulled (activation ``pull``), else ``None``."""
        index = self.by_id.get(node_id)
        if index is None:
            return None
        cnode = self.nodes[index]
        return cnode if cnode.node.activation is Activation.PULL else None


DEFAULT_MAX_ACTIVATIONS = 100_000
"""How often a re-entrant node may run in one scope unless its ``max_activations`` says otherwise."""

InputCheck = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class CompiledWorkflow:
    """A workflow ready to run any number of times. ``check_inputs`` lists what is wrong with a run's
    inputs (the front door that loaded the workflow supplies it)."""

    workflow: Workflow
    root: Plan
    settings: WorkflowSettings
    check_inputs: InputCheck | None = None
    uses_cache: bool = False  # a node (or a node in a block) has a cache policy
    # (message, node id) a run adds to messages.warning: refs that cannot resolve (see _refs.py), and what
    # the front door read but could not use
    warnings: tuple[tuple[str, str | None], ...] = ()


def compile_workflow(
    workflow: Workflow, executors: ExecutorLookup, check_inputs: InputCheck | None = None
) -> CompiledWorkflow:
    root = _compile_graph(workflow.nodes, workflow.edges, executors)
    warnings = tuple((str(problem), problem.node_id) for problem in reference_problems(workflow))
    return CompiledWorkflow(workflow, root, workflow.settings, check_inputs, _uses_cache(root), warnings)


def _uses_cache(root: Plan) -> bool:
    """Whether any node of the plan (or of its blocks) has a cache policy."""
    plans = [root]
    while plans:
        plan = plans.pop()
        for cnode in plan.nodes:
            if cnode.node.cache is not None:
                return True
            if cnode.block is not None:
                plans.append(cnode.block)
    return False


def _compile_graph(nodes: Sequence[Node], edges: Sequence[Edge], executors: ExecutorLookup) -> Plan:
    by_id = {node.id: i for i, node in enumerate(nodes)}
    out: list[list[tuple[str, int]]] = [[] for _ in nodes]
    in_degree = [0] * len(nodes)
    seen: set[tuple[str, str, str, str]] = set()
    for edge in edges:
        key = (edge.source, edge.source_port, edge.target, edge.target_port)
        src, dst = by_id.get(edge.source), by_id.get(edge.target)
        if key in seen or src is None or dst is None:
            continue  # deviation D9: an identical duplicate edge is one edge
        seen.add(key)
        out[src].append((edge.source_port, dst))
        in_degree[dst] += 1
    compiled = []
    declared: dict[str, Traits] = {}  # by node type: one executor per type, its traits read once
    for i, node in enumerate(nodes):
        executor = executors.get(node.type)
        traits = declared.get(node.type)
        if traits is None:
            traits = declared[node.type] = traits_of(executor) if executor is not None else NO_TRAITS
        block = _compile_graph(node.blocks, node.block_edges, executors) if node.blocks else None
        compiled.append(
            CompiledNode(
                index=i,
                node=node,
                executor=executor,
                inputs=_compile_inputs(node),
                outputs=_compile_outputs(node),
                out_edges=tuple(out[i]),
                ports=frozenset(port for port, _target in out[i]),
                in_degree=in_degree[i],
                block=block,
                retry=node.retry,
                entry=traits.entry,
                terminal=traits.terminal,
                lightweight=executor is None or traits.lightweight,
                direct=node.retry is None and node.timeout_s is None and node.deadline_s is None,
                restorable=executor is not None and block is None and not traits.replayed,
                strict_join=traits.strict_join,
                reentrant=node.activation is Activation.ANY,
                max_activations=node.max_activations or DEFAULT_MAX_ACTIVATIONS,
            )
        )
    entries = tuple(
        c.index for c in compiled if c.in_degree == 0 and c.entry and c.node.activation is not Activation.PULL
    )
    reentrant = any(c.reentrant for c in compiled)
    return Plan(nodes=tuple(compiled), entries=entries, by_id=by_id, reentrant=reentrant)


def _compile_outputs(node: Node) -> dict[str, OutputSpec]:
    props = node.outputs.properties if node.outputs is not None else None
    if not props:
        return {}
    specs = {}
    for name, prop in props.items():
        vtype = declared_type(prop)
        default = parse_declared(prop.default, vtype)
        specs[name] = OutputSpec(name, UNDEFINED if default is None else default, vtype, items_type_of(prop))
    return specs


def _compile_inputs(node: Node) -> tuple[CompiledInput, ...]:
    """Only declared inputs are bound (upstream drops keys absent from ``inputs.properties``)."""
    props = node.inputs.properties if node.inputs is not None else None
    if not props or not node.inputs_values:
        return ()
    return tuple(
        CompiledInput(
            name, compile_flow_value(raw, props[name]), declared_type(props[name]), is_sensitive(name)
        )
        for name, raw in node.inputs_values.items()
        if name in props and raw is not None
    )
