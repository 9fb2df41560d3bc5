"""Structural validation of flowgram workflow JSON, with the messages of @flowgram.ai/runtime-js 1.0.9.

Four validators run in upstream order: format, cycles, edge endpoints, start/end counts. Each walks the
top-level graph and then every block sub-graph (a node's ``blocks`` + ``edges``, e.g. a loop body) depth-first
in document order, and reports at most its first error, as upstream's throwing validators do.

The JavaScript semantics behind the messages are kept: ``typeof x === "object"`` (arrays are objects),
truthiness (``blocks: []`` is a sub-graph), ``String.prototype.trim`` and ``Set``/``Map`` key equality.
Deviation D13: where 1.0.9 crashes on a malformed part (``nodes.map is not a function``, ``Cannot read
properties of null``) or follows a format error with a second message about the same part (``edge source node
"" not exist``), that validator reports nothing, leaving the clear format error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Final, NamedTuple

MSG_NOT_OBJECT: Final = "Workflow schema must be a valid object"
MSG_NO_NODES_ARRAY: Final = "Workflow schema must have a valid nodes array"
MSG_NO_EDGES_ARRAY: Final = "Workflow schema must have a valid edges array"
MSG_CYCLE: Final = "Workflow schema contains a cycle, which is not allowed"

# What JavaScript's String.prototype.trim removes (WhiteSpace and LineTerminator); str.strip() differs.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_ENDPOINT_KEYS: Final = ("sourceNodeID", "targetNodeID")
_PORT_KEYS: Final = ("sourcePortID", "targetPortID")
_SUBGRAPH_KEYS: Final = ("blocks", "edges")
_SCHEMA_DATA_KEYS: Final = ("inputs", "outputs", "inputsValues")


class _Undefined(Enum):
    """JavaScript's ``undefined``: a property that is absent."""

    UNDEFINED = "undefined"


_UNDEFINED: Final = _Undefined.UNDEFINED


class _Stop(Enum):
    """A validator that 1.0.9 would end with a crash or a follow-on message: it reports nothing (D13)."""

    SILENT = "silent"


_SILENT: Final = _Stop.SILENT

# A per-graph check: None to go on with the next graph, a message, or _SILENT.
_Outcome = str | _Stop | None
_Check = Callable[[object, object, bool], _Outcome]


class _Terminals(NamedTuple):
    """The single entry and exit node types a graph level needs, and the messages when it has not."""

    start: str
    end: str
    neither: str
    no_start: str
    no_end: str
    many_starts: str
    many_ends: str


_WORKFLOW_TERMINALS: Final = _Terminals(
    "start",
    "end",
    "Workflow schema must have a start node and an end node",
    "Workflow schema must have a start node",
    "Workflow schema must have an end node",
    "Workflow schema must have only one start node",
    "Workflow schema must have only one end node",
)
_BLOCK_TERMINALS: Final = _Terminals(
    "block-start",
    "block-end",
    "Workflow block schema must have a block-start node and a block-end node",
    "Workflow block schema must have a block-start node",
    "Workflow block schema must have an block-end node",  # sic, upstream's wording
    "Workflow block schema must have only one block-start node",
    "Workflow block schema must have only one block-end node",
)


def validate_workflow_json(raw: object) -> list[str]:
    """Every schema error of ``raw`` (parsed workflow JSON), in upstream order; ``[]`` when it is valid.

    Never raises. Only the top-level start node's inputs remain to be checked (``validate_inputs``).
    """
    # A top-level array is also rejected here; 1.0.9 would say "must have a valid nodes array".
    if not isinstance(raw, dict):
        return [MSG_NOT_OBJECT]
    errors: list[str] = []
    for check in (_check_format, _check_cycles, _check_edge_endpoints, _check_terminals):
        outcome = _first_outcome(raw, check)
        if isinstance(outcome, str):
            errors.append(outcome)
    return errors


def _first_outcome(schema: dict[object, object], check: _Check) -> _Outcome:
    for index, (nodes, edges) in enumerate(_graphs(schema)):
        outcome = check(nodes, edges, index == 0)
        if outcome is not None:
            return outcome
    return None


def _graphs(schema: dict[object, object]) -> Iterator[tuple[object, object]]:
    """``(nodes, edges)`` of the workflow, then of every block sub-graph, depth-first in document order.

    A graph's sub-graphs are only looked at once the consumer has checked the graph and asked for more, which
    is when upstream's recursion reaches them.
    """
    pending: list[tuple[object, object]] = [(_get(schema, "nodes"), _get(schema, "edges"))]
    expanded: set[int] = set()  # guards against self-containing Python objects (JSON cannot build them)
    while pending:
        nodes, edges = pending.pop()
        yield nodes, edges
        if not isinstance(nodes, list) or id(nodes) in expanded:
            continue
        expanded.add(id(nodes))
        subgraphs = [
            (blocks, _edges_or_empty(node)) for node in nodes if _js_truthy(blocks := _get(node, "blocks"))
        ]
        pending.extend(reversed(subgraphs))


# --- schemaFormat ---------------------------------------------------------------------------------


def _check_format(nodes: object, edges: object, top: bool) -> _Outcome:
    if not isinstance(nodes, list):
        return MSG_NO_NODES_ARRAY
    if not isinstance(edges, list):
        return MSG_NO_EDGES_ARRAY
    for index, node in enumerate(nodes):
        error = _node_format_error(node, f"nodes[{index}]")
        if error is not None:
            return error
    for index, edge in enumerate(edges):
        error = _edge_format_error(edge, f"edges[{index}]")
        if error is not None:
            return error
    return None


def _node_format_error(node: object, path: str) -> str | None:
    if not _is_js_object(node):
        return f"{path} must be a valid object"
    for key in ("id", "type"):
        if not _is_nonblank_string(_get(node, key)):
            return f"{path}.{key} must be a non-empty string"
    for key in ("meta", "data"):
        if not _is_js_object(_get(node, key)):
            return f"{path}.{key} must be a valid object"
    for key in _SUBGRAPH_KEYS:
        value = _get(node, key)
        if value is not _UNDEFINED and not isinstance(value, list):
            return f"{path}.{key} must be an array if present"
    data = _get(node, "data")
    for key in _SCHEMA_DATA_KEYS:
        value = _get(data, key)
        if value is not _UNDEFINED and not _is_js_object(value):
            return f"{path}.data.{key} must be a valid object if present"
    title = _get(data, "title")
    if title is not _UNDEFINED and not isinstance(title, str):
        return f"{path}.data.title must be a string if present"
    return None


def _edge_format_error(edge: object, path: str) -> str | None:
    if not _is_js_object(edge):
        return f"{path} must be a valid object"
    for key in _ENDPOINT_KEYS:
        if not _is_nonblank_string(_get(edge, key)):
            return f"{path}.{key} must be a non-empty string"
    for key in _PORT_KEYS:
        value = _get(edge, key)
        if value is not _UNDEFINED and not isinstance(value, str):
            return f"{path}.{key} must be a string if present"
    return None


# --- cycleDetection -------------------------------------------------------------------------------


def _check_cycles(nodes: object, edges: object, top: bool) -> _Outcome:
    nodes, edges = _readable(nodes), _readable(edges)
    if nodes is None or edges is None:
        return _SILENT
    node_keys = {_js_key(_get(node, "id")) for node in nodes}
    successors: dict[object, list[object]] = {key: [] for key in node_keys}
    indegree = dict.fromkeys(node_keys, 0)
    for edge in edges:
        source, target = _js_key(_get(edge, "sourceNodeID")), _js_key(_get(edge, "targetNodeID"))
        # Upstream's DFS ignores edges whose ends are not nodes.
        if source in node_keys and target in node_keys:
            successors[source].append(target)
            indegree[target] += 1
    # Kahn's algorithm: iterative, so a 100,000-node chain is fine (upstream's recursive DFS is not).
    ready = [key for key, count in indegree.items() if count == 0]
    removed = 0
    while ready:
        key = ready.pop()
        removed += 1
        for target in successors[key]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return MSG_CYCLE if removed < len(node_keys) else None


# --- edgeSourceTargetExist ------------------------------------------------------------------------


def _check_edge_endpoints(nodes: object, edges: object, top: bool) -> _Outcome:
    nodes, edges = _readable(nodes), _readable(edges)
    if nodes is None or edges is None:
        return _SILENT
    node_keys = {_js_key(_get(node, "id")) for node in nodes}
    for edge in edges:
        for key, end in zip(_ENDPOINT_KEYS, ("source", "target"), strict=True):
            node_id = _get(edge, key)
            if _js_key(node_id) not in node_keys:
                # An id that is not a non-empty string already has its format error (D13).
                if not _is_nonblank_string(node_id):
                    return _SILENT
                return f'Workflow schema edge {end} node "{node_id}" not exist'
    return None


# --- startEndNode ---------------------------------------------------------------------------------


def _check_terminals(nodes: object, edges: object, top: bool) -> _Outcome:
    nodes = _readable(nodes)
    if nodes is None:
        return _SILENT
    terminals = _WORKFLOW_TERMINALS if top else _BLOCK_TERMINALS
    types = [_get(node, "type") for node in nodes]
    starts, ends = types.count(terminals.start), types.count(terminals.end)
    if not starts and not ends:
        return terminals.neither
    if not starts:
        return terminals.no_start
    if not ends:
        return terminals.no_end
    if starts > 1:
        return terminals.many_starts
    if ends > 1:
        return terminals.many_ends
    return None


# --- JavaScript semantics -------------------------------------------------------------------------


def _get(obj: object, key: str) -> object:
    """``obj[key]`` as JavaScript reads it from parsed JSON: ``undefined`` unless ``obj`` has the key."""
    if isinstance(obj, dict):
        return obj.get(key, _UNDEFINED)
    return _UNDEFINED


def _edges_or_empty(node: object) -> object:
    """``node.edges ?? []``."""
    edges = _get(node, "edges")
    return [] if edges is None or edges is _UNDEFINED else edges


def _is_js_object(value: object) -> bool:
    """``typeof value === "object" && value !== null``, which holds for arrays too."""
    return isinstance(value, dict | list)


def _is_nonblank_string(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip(_JS_WHITESPACE))


def _readable(items: object) -> list[object] | None:
    """``items`` if upstream can iterate it and read a property of every element without a TypeError."""
    if isinstance(items, list) and all(item is not None for item in items):
        return items
    return None


def _js_truthy(value: object) -> bool:
    if value is _UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | int):
        return bool(value)
    return True


def _js_key(value: object) -> object:
    """A hashable key that is equal exactly where JavaScript's ``Set``/``Map`` keys (SameValueZero) are."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        number = _to_double(value)
        return ("number", "NaN" if math.isnan(number) else number)
    if value is None or value is _UNDEFINED:
        return (repr(value),)
    return ("object", id(value))  # objects and arrays are keyed by identity


def _to_double(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond double range, which JavaScript parses as ±Infinity
        return math.inf if value > 0 else -math.inf
