"""Pulls of pure nodes compiled once per consumer (``nodes/visual/_pulls.py``) give what the walk gives: a
shared pure node read twice in one pull, pins in the node's declared order with wires and defaults mixed,
fresh values on every run of the same compiled flow, and a data-edge cycle still failing by name."""

from __future__ import annotations

from typing import Any

import pytest

import flowloom
from flowloom.ir import Status

pytestmark = pytest.mark.anyio
EXEC = "execution"


def pin(pin_id: str, kind: str = "any") -> dict[str, str]:
    return {"id": pin_id, "label": pin_id, "type": kind}


def node(node_id: str, node_type: str, inputs: list[str], outputs: list[str], **data: Any) -> dict[str, Any]:
    pins_in = [pin(p, EXEC if p == "exec-in" else "any") for p in inputs]
    pins_out = [pin(p, EXEC if p == "exec-out" else "any") for p in outputs]
    return {
        "id": node_id,
        "type": node_type,
        "data": {"nodeType": node_type, "inputs": pins_in, "outputs": pins_out, **data},
    }


def edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, str]:
    return {"source": source, "sourceHandle": source_handle, "target": target, "targetHandle": target_handle}


def diamond() -> dict[str, Any]:
    """y = (x + 1) + (x + 1) through one shared ``add``; text = concat(word, "-", shared), pins c, a, b."""
    return {
        "id": "pull-diamond",
        "entryNode": "start",
        "nodes": [
            node("start", "on_flow_start", [], ["exec-out", "x", "word"]),
            node("shared", "add", ["a", "b"], ["result"], pinDefaults={"b": 1}),
            node("twice", "add", ["a", "b"], ["result"]),
            node("text", "concat", ["c", "a", "b"], ["result"], pinDefaults={"a": "-"}),
            node("end", "on_flow_end", ["exec-in", "y", "text"], []),
        ],
        "edges": [
            edge("start", "exec-out", "end", "exec-in"),
            edge("start", "x", "shared", "a"),
            edge("shared", "result", "twice", "a"),
            edge("shared", "result", "twice", "b"),
            edge("shared", "result", "text", "b"),
            edge("start", "word", "text", "c"),
            edge("twice", "result", "end", "y"),
            edge("text", "result", "end", "text"),
        ],
    }


async def test_a_compiled_pull_reads_shared_nodes_pins_in_order_and_fresh_values_per_run() -> None:
    engine = flowloom.Engine()
    compiled = engine.load(diamond())
    first = await engine.run(compiled, {"x": 2, "word": "w"})
    second = await engine.run(compiled, {"x": 10, "word": "v"})
    assert first.outputs == {"y": 6, "text": "w - 3.0", "success": True}
    assert second.outputs == {"y": 22, "text": "v - 11.0", "success": True}


async def test_a_data_edge_cycle_still_fails_naming_the_node() -> None:
    flow = diamond()
    flow["edges"] = [e for e in flow["edges"] if e["target"] != "shared"]
    flow["edges"].append(edge("twice", "result", "shared", "a"))  # shared -> twice -> shared
    engine = flowloom.Engine()
    run = await engine.run(engine.load(flow), {"x": 2, "word": "w"})
    assert run.status is Status.FAILED
    assert "Data edge cycle detected" in (run.error or "")
