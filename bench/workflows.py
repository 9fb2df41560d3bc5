"""Workflow builders for the benchmarks: flowgram.ai JSON dicts of any size, plus the pass-through node.

Every builder returns a workflow with exactly one ``start_0`` (output ``x``, an integer) and one ``end_0``
node; ``N`` counts only the nodes in between.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import flowloom

PASS_TYPE = "bench-pass"
START_ID = "start_0"
END_ID = "end_0"
JS_INCREMENT = "async function main({ params }) { return { x: params.x + 1 }; }"

Json = dict[str, Any]


class PassExecutor:
    """``bench-pass``: returns its resolved inputs as its outputs; counts its executions."""

    type: ClassVar[str] = PASS_TYPE
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(lightweight=True)

    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        self.calls += 1
        return flowloom.NodeResult(outputs=ctx.inputs)


def _meta() -> Json:
    return {"position": {"x": 0, "y": 0}}


def _schema(kind: str, default: Any = None) -> Json:
    prop: Json = {"type": kind}
    if default is not None:
        prop["default"] = default
    return {"type": "object", "properties": {"x": prop}}


def _ref(node_id: str) -> Json:
    return {"type": "ref", "content": [node_id, "x"]}


def _edge(source: str, target: str, port: str | None = None) -> Json:
    edge: Json = {"sourceNodeID": source, "targetNodeID": target}
    if port is not None:
        edge["sourcePortID"] = port
    return edge


def start_node(default: int | None = None) -> Json:
    return {
        "id": START_ID,
        "type": "start",
        "meta": _meta(),
        "data": {"outputs": _schema("integer", default)},
    }


def end_node(source: str, kind: str = "integer") -> Json:
    """The end node; its one input ``x`` is a ref to ``source``'s ``x``."""
    data = {"inputs": _schema(kind), "inputsValues": {"x": _ref(source)}}
    return {"id": END_ID, "type": "end", "meta": _meta(), "data": data}


def pass_node(node_id: str, source: str) -> Json:
    data = {"inputs": _schema("integer"), "inputsValues": {"x": _ref(source)}, "outputs": _schema("integer")}
    return {"id": node_id, "type": PASS_TYPE, "meta": _meta(), "data": data}


def code_node(node_id: str, source: str) -> Json:
    data = {
        "inputs": _schema("number"),
        "inputsValues": {"x": _ref(source)},
        "outputs": _schema("number"),
        "script": {"language": "javascript", "content": JS_INCREMENT},
    }
    return {"id": node_id, "type": "code", "meta": _meta(), "data": data}


def condition_node(node_id: str, threshold: int) -> Json:
    """One condition ``if_0``: ``start_0.x > threshold``."""
    condition = {
        "key": "if_0",
        "value": {
            "left": _ref(START_ID),
            "operator": "gt",
            "right": {"type": "constant", "content": threshold},
        },
    }
    return {"id": node_id, "type": "condition", "meta": _meta(), "data": {"conditions": [condition]}}


def _linear(middle: list[Json], end_kind: str = "integer") -> Json:
    """start → middle[0] → … → middle[-1] → end, each node's ``x`` bound to its predecessor's."""
    ids = [START_ID, *(node["id"] for node in middle)]
    nodes = [start_node(), *middle, end_node(ids[-1], end_kind)]
    edges = [_edge(a, b) for a, b in zip(ids, [*ids[1:], END_ID], strict=True)]
    return {"nodes": nodes, "edges": edges}


def chain(n: int) -> Json:
    """start → n pass-through nodes in a line → end."""
    ids = [f"pass_{i}" for i in range(n)]
    return _linear(
        [pass_node(node_id, source) for node_id, source in zip(ids, [START_ID, *ids], strict=False)]
    )


def fan_out(n: int) -> Json:
    """start → n pass-through nodes in parallel (each reading ``start_0.x``) → end (a join of n edges)."""
    ids = [f"pass_{i}" for i in range(n)]
    nodes = [start_node(), *(pass_node(node_id, START_ID) for node_id in ids), end_node(START_ID)]
    edges = [_edge(START_ID, node_id) for node_id in ids] + [_edge(node_id, END_ID) for node_id in ids]
    return {"nodes": nodes, "edges": edges}


def condition_chain(n: int, threshold: int = 0) -> Json:
    """start → n conditions in a line: each one's ``if_0`` leads on, its ``else`` to the end (so the end has
    n + 1 incoming edges). With ``start_0.x > threshold`` every condition takes ``if_0``."""
    ids = [f"cond_{i}" for i in range(n)]
    nodes = [start_node(), *(condition_node(node_id, threshold) for node_id in ids), end_node(START_ID)]
    edges = [_edge(START_ID, ids[0])]
    for node_id, following in zip(ids, [*ids[1:], END_ID], strict=True):
        edges += [_edge(node_id, following, "if_0"), _edge(node_id, END_ID, "else")]
    return {"nodes": nodes, "edges": edges}


def js_chain(n: int) -> Json:
    """start → n JavaScript code nodes in a line, each returning ``x + 1`` → end."""
    ids = [f"code_{i}" for i in range(n)]
    middle = [code_node(node_id, source) for node_id, source in zip(ids, [START_ID, *ids], strict=False)]
    return _linear(middle, end_kind="number")


def two_node(default: int = 1) -> Json:
    """start → end, for the cold start; ``x`` defaults to ``default`` so the run needs no inputs."""
    return {"nodes": [start_node(default), end_node(START_ID)], "edges": [_edge(START_ID, END_ID)]}


PY_INCREMENT = 'def main(args):\n    return {"x": args["params"]["x"] + 1}\n'


def python_node(node_id: str, source: str) -> Json:
    node = code_node(node_id, source)
    node["data"]["script"] = {"language": "python", "content": PY_INCREMENT}
    return node


def python_chain(n: int) -> Json:
    """start → n Python code nodes in a line (the sandbox pool), each returning ``x + 1`` → end."""
    ids = [f"py_{i}" for i in range(n)]
    middle = [python_node(node_id, source) for node_id, source in zip(ids, [START_ID, *ids], strict=False)]
    return _linear(middle, end_kind="number")


def http_node(node_id: str, url: str) -> Json:
    return {
        "id": node_id,
        "type": "http",
        "meta": _meta(),
        "data": {
            "api": {"method": "GET", "url": {"type": "template", "content": url}},
            "body": {"bodyType": "none"},
            "timeout": {"timeout": 10_000, "retryTimes": 0},
            "outputs": {"type": "object", "properties": {"statusCode": {"type": "integer"}}},
        },
    }


def http_chain(n: int, base_url: str) -> Json:
    """start → n HTTP GET nodes in a line, each to ``base_url/step/<i>`` → end (x from start)."""
    ids = [f"http_{i}" for i in range(n)]
    nodes = [
        start_node(),
        *(http_node(node_id, f"{base_url}/step/{i}") for i, node_id in enumerate(ids)),
        end_node(START_ID),
    ]
    chain_ids = [START_ID, *ids, END_ID]
    return {"nodes": nodes, "edges": [_edge(a, b) for a, b in itertools.pairwise(chain_ids)]}
