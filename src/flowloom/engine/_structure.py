"""Structural validation of an ``ir.Workflow``, whatever front door it came through: node ids unique, edges
between nodes that exist and from ports they have, node types the engine can run, and no cycle (a join on
a cycle would never become ready, so the run would end without it; a cycle through a re-entrant node,
activation ``any``, is a loop and allowed). Linear in nodes and edges, and
iterative: a 100,000-node chain is checked without recursion."""

from __future__ import annotations

from collections.abc import Sequence

from flowloom.ir import Activation, Edge, Node, Workflow

from ._protocols import ChecksConfig, DeclaresPorts, ExecutorLookup

_MAX_ERRORS = 20  # a thoroughly broken workflow gets the first problems, not thousands of lines


def structural_errors(
    workflow: Workflow, executors: ExecutorLookup, *, lenient_node_types: bool = False
) -> list[str]:
    """Every structural problem of ``workflow``, each naming the node or edge (and the loop body it is in).
    ``lenient_node_types``: node types without an executor are left to fail when reached."""
    errors: list[str] = []
    graphs: list[tuple[str, Sequence[Node], Sequence[Edge]]] = [("", workflow.nodes, workflow.edges)]
    while graphs and len(errors) < _MAX_ERRORS:
        where, nodes, edges = graphs.pop()
        errors.extend(_graph_errors(where, nodes, edges, executors, lenient_node_types))
        graphs.extend(
            (f' in the block of node "{node.id}"', node.blocks, node.block_edges)
            for node in reversed(nodes)
            if node.blocks or node.block_edges
        )
    if workflow.triggers:
        from ._cron import trigger_errors  # croniter: only for workflows with triggers

        errors.extend(trigger_errors(workflow))
    return errors[:_MAX_ERRORS]


def _graph_errors(
    where: str,
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    executors: ExecutorLookup,
    lenient_node_types: bool,
) -> list[str]:
    errors: list[str] = []
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.id in index:
            errors.append(f'duplicate node id "{node.id}"{where}')
        index[node.id] = i
        executor = executors.get(node.type)
        if executor is None and not lenient_node_types:
            errors.append(f'node "{node.id}"{where}: unknown node type "{node.type}"')
        elif isinstance(executor, ChecksConfig):
            errors.extend(executor.config_errors(node))
    successors: list[list[int]] = [[] for _ in nodes]
    ports: dict[int, frozenset[str] | None] = {}  # declared output ports, by node index
    for edge in edges:
        source, target = index.get(edge.source), index.get(edge.target)
        if source is not None and not lenient_node_types:
            if source not in ports:
                ports[source] = _output_ports(nodes[source], executors)
            declared = ports[source]
            if declared is not None and edge.source_port not in declared:
                known = ", ".join(f'"{p}"' for p in sorted(declared)) or "none"
                errors.append(
                    f'edge "{edge.source}" -> "{edge.target}"{where}: node "{edge.source}" has no output '
                    f'port "{edge.source_port}" (its ports: {known})'
                )
        for end, found in (("source", source), ("target", target)):
            if found is None:
                errors.append(
                    f'edge "{edge.source}" -> "{edge.target}"{where}: {end} node '
                    f'"{edge.source if end == "source" else edge.target}" does not exist'
                )
        if source is not None and target is not None and nodes[target].activation is not Activation.ANY:
            successors[source].append(target)  # a cycle through a re-entrant node is a loop, not an error
    cycle = find_cycle(successors)
    if cycle:
        names = " -> ".join(f'"{nodes[i].id}"' for i in [*cycle, cycle[0]])
        errors.append(f"the workflow{where} has a cycle: {names}")
    return errors


def _output_ports(node: Node, executors: ExecutorLookup) -> frozenset[str] | None:
    executor = executors.get(node.type)
    if isinstance(executor, DeclaresPorts):
        return frozenset(executor.output_ports(node))
    return None


def find_cycle(successors: Sequence[Sequence[int]]) -> list[int]:
    """One cycle of a directed graph given as successor lists (its nodes in order), or ``[]``.
    Iterative depth-first search with three colours."""
    state = bytearray(len(successors))  # 0 unseen, 1 on the current path, 2 done
    for root in range(len(successors)):
        if state[root]:
            continue
        path: list[int] = [root]
        cursors: list[int] = [0]
        state[root] = 1
        while path:
            node = path[-1]
            nexts = successors[node]
            if cursors[-1] < len(nexts):
                target = nexts[cursors[-1]]
                cursors[-1] += 1
                if state[target] == 1:
                    return path[path.index(target) :]
                if state[target] == 0:
                    state[target] = 1
                    path.append(target)
                    cursors.append(0)
            else:
                state[node] = 2
                path.pop()
                cursors.pop()
    return []
