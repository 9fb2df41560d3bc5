"""References between nodes that cannot resolve: a ``ref`` (``{"type": "ref", "content": [nodeID, key,
...]}``) to a node that does not exist, that is not upstream of the node that reads it (so it has not run
when it is read), or to an output its node does not declare. Upstream resolves such a ref to nothing, and a
run goes on with ``{}``: flowloom warns in the run's ``messages.warning``, and strict validation (``flowloom
validate``) refuses the workflow.

A node may read what ran before it: its ancestors along edges, in its own graph and, inside a loop body,
those of the enclosing loop nodes; the loop's ``<loopID>_locals``; ``global`` variables; and a loop node
reads what its own body produced."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from flowloom.ir import GLOBAL_NAMESPACE, LOOP_LOCALS_SUFFIX, Edge, FlowValueType, Node, Workflow

_MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class RefProblem:
    """A reference that cannot resolve: the node that reads it, where in the node, and why."""

    node_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f'node "{self.node_id}", {self.field}: {self.message}'


@dataclass(frozen=True, slots=True)
class _Level:
    """One graph level: its nodes by id, predecessors by id, and the levels of the loops around it."""

    nodes: Mapping[str, Node]
    predecessors: Mapping[str, Sequence[str]]
    outer: _Level | None
    container: Node | None  # the loop node whose body this level is


def reference_problems(workflow: Workflow) -> list[RefProblem]:
    """The first problems (at most 20) of every ref of ``workflow``, in document order."""
    problems: list[RefProblem] = []
    levels = [_level(workflow.nodes, workflow.edges, None, None)]
    while levels and len(problems) < _MAX_PROBLEMS:
        level = levels.pop(0)
        for node in level.nodes.values():
            for field, content in _refs_of(node):
                problem = _problem(level, node, content)
                if problem is not None:
                    problems.append(RefProblem(node.id, field, problem))
            if node.blocks:
                levels.append(_level(node.blocks, node.block_edges, level, node))
    return problems[:_MAX_PROBLEMS]


def _level(
    nodes: Sequence[Node], edges: Sequence[Edge], outer: _Level | None, container: Node | None
) -> _Level:
    predecessors: dict[str, list[str]] = {node.id: [] for node in nodes}
    for edge in edges:
        if edge.target in predecessors:
            predecessors[edge.target].append(edge.source)
    return _Level({node.id: node for node in nodes}, predecessors, outer, container)


def _refs_of(node: Node) -> Iterator[tuple[str, list[object]]]:
    """``(field, content)`` of every ref in the node's input values and data, depth-first, iteratively."""
    pending: list[tuple[str, object]] = [
        *((f"inputsValues.{key}", value) for key, value in node.inputs_values.items()),
        *((f"data.{key}", value) for key, value in node.data.items()),
    ]
    pending.reverse()
    while pending:
        field, value = pending.pop()
        if isinstance(value, Mapping):
            content = value.get("content")
            if value.get("type") == FlowValueType.REF and isinstance(content, list) and content:
                yield field, content
                continue
            pending.extend((f"{field}.{key}", item) for key, item in reversed(list(value.items())))
        elif isinstance(value, list):
            pending.extend((f"{field}[{index}]", item) for index, item in reversed(list(enumerate(value))))


def _problem(level: _Level, reader: Node, content: list[object]) -> str | None:
    target = content[0]
    if not isinstance(target, str) or target == GLOBAL_NAMESPACE:
        return None  # a malformed ref fails with its own message when it is resolved
    if (reader.blocks and target == reader.id + LOOP_LOCALS_SUFFIX) or _is_own_loop_locals(level, target):
        return None
    found = _find(level, reader, target)
    if found is None:
        return f'ref to node "{target}", which does not exist'
    node, upstream = found
    if not upstream:
        return f'ref to node "{target}", which is not upstream of "{reader.id}" (it has not run when read)'
    key = content[1] if len(content) > 1 else None
    declared = node.outputs.properties if node.outputs is not None else None
    if isinstance(key, str) and declared and key not in declared:
        return f'ref to output "{key}" of node "{target}", which it does not declare'
    return None


def _is_own_loop_locals(level: _Level, target: str) -> bool:
    at: _Level | None = level
    while at is not None:
        if at.container is not None and target == at.container.id + LOOP_LOCALS_SUFFIX:
            return True
        at = at.outer
    return False


def _find(level: _Level, reader: Node, target: str) -> tuple[Node, bool] | None:
    """The node ``target`` as ``reader`` (of ``level``) sees it, and whether it runs before the read."""
    body = next((node for node in _body_nodes(reader) if node.id == target), None)
    if body is not None:  # a loop reads what its own body produced (loopOutputs)
        return body, True
    at: _Level | None = level
    from_id = reader.id
    while at is not None:
        node = at.nodes.get(target)
        if node is not None:
            return node, _is_ancestor(at, target, from_id)
        if at.container is None:
            break
        from_id = at.container.id
        at = at.outer
    return _anywhere(level, target)


def _body_nodes(node: Node) -> Iterator[Node]:
    pending = list(node.blocks)
    while pending:
        inner = pending.pop()
        yield inner
        pending.extend(inner.blocks)


def _anywhere(level: _Level, target: str) -> tuple[Node, bool] | None:
    """A node in another loop's body (never upstream of a reader outside it)."""
    root = level
    while root.outer is not None:
        root = root.outer
    for top in root.nodes.values():
        for inner in _body_nodes(top):
            if inner.id == target:
                return inner, False
    return None


def _is_ancestor(level: _Level, target: str, node_id: str) -> bool:
    """Whether ``target`` reaches ``node_id`` along edges (breadth-first from ``node_id``, backwards)."""
    seen = {node_id}
    frontier = [node_id]
    while frontier:
        following: list[str] = []
        for current in frontier:
            for source in level.predecessors.get(current, ()):
                if source == target:
                    return True
                if source not in seen:
                    seen.add(source)
                    following.append(source)
        frontier = following
    return False
