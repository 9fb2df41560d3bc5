"""Compact builders of flowgram workflow JSON for tests."""

from __future__ import annotations

import itertools
from typing import Any

_META = {"position": {"x": 0, "y": 0}}


def ref(*path: str) -> dict[str, Any]:
    return {"type": "ref", "content": list(path)}


def props(**types: str) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": t} for k, t in types.items()}}


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "meta": _META, "data": data}


def start(**types: str) -> dict[str, Any]:
    return node("start_0", "start", outputs=props(**types))


def end(**values: dict[str, Any]) -> dict[str, Any]:
    """An end node whose inputs are the given flow values (declared as numbers unless a ref says so)."""
    return node("end_0", "end", inputs=props(**dict.fromkeys(values, "number")), inputsValues=values)


def js(
    node_id: str, script: str, inputs: dict[str, dict[str, Any]] | None = None, **outputs: str
) -> dict[str, Any]:
    inputs = inputs or {}
    return node(
        node_id,
        "code",
        inputs=props(**dict.fromkeys(inputs, "number")),
        inputsValues=inputs,
        outputs=props(**outputs),
        script={"language": "javascript", "content": script},
    )


def edge(source: str, target: str, port: str | None = None) -> dict[str, Any]:
    e = {"sourceNodeID": source, "targetNodeID": target}
    if port is not None:
        e["sourcePortID"] = port
    return e


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A workflow whose nodes run one after the other, in the order given."""
    return {
        "nodes": list(nodes),
        "edges": [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)],
    }


def double_x() -> dict[str, Any]:
    """start(x) -> code (y = 2x) -> end(y)."""
    return chain(
        start(x="number"),
        js(
            "code_0",
            "async function main({ params }) { return { y: params.x * 2 }; }",
            {"x": ref("start_0", "x")},
            y="number",
        ),
        end(y=ref("code_0", "y")),
    )
