"""Workflows with waits, for the wait tests (and the processes they start)."""

from __future__ import annotations

from typing import Any

from _workflows import edge, node, props, ref, start


def wait_node(node_id: str = "approve", **data: Any) -> dict[str, Any]:
    return node(node_id, "wait", outputs=props(approved="boolean", note="string", timedOut="boolean"), **data)


def approval() -> dict[str, Any]:
    """start(who) -> wait "approve" (prompt templated on the input) -> end(approved, note)."""
    return {
        "nodes": [
            start(who="string"),
            wait_node(prompt="Approve {{start_0.who}}?", choices=["yes", "no"]),
            node(
                "end_0",
                "end",
                inputs=props(approved="boolean", note="string"),
                inputsValues={"approved": ref("approve", "approved"), "note": ref("approve", "note")},
            ),
        ],
        "edges": [edge("start_0", "approve"), edge("approve", "end_0")],
    }


def timer(duration_s: float) -> dict[str, Any]:
    """start -> wait (durationS, no prompt) -> end(timedOut)."""
    return {
        "nodes": [
            start(),
            wait_node("sleep", durationS=duration_s),
            node(
                "end_0",
                "end",
                inputs=props(timedOut="boolean"),
                inputsValues={"timedOut": ref("sleep", "timedOut")},
            ),
        ],
        "edges": [edge("start_0", "sleep"), edge("sleep", "end_0")],
    }


def two_waits() -> dict[str, Any]:
    """start -> (wait "a", wait "b") -> end(a, b): two branches wait at once."""
    return {
        "nodes": [
            start(),
            wait_node("a", prompt="a?"),
            wait_node("b", prompt="b?"),
            node(
                "end_0",
                "end",
                inputs=props(a="boolean", b="boolean"),
                inputsValues={"a": ref("a", "approved"), "b": ref("b", "approved")},
            ),
        ],
        "edges": [edge("start_0", "a"), edge("start_0", "b"), edge("a", "end_0"), edge("b", "end_0")],
    }


def ask_each() -> dict[str, Any]:
    """start(items: string[]) -> loop { wait "ask" (prompt templated on the item) } -> end(answers)."""
    strings = {"type": "array", "items": {"type": "string"}}
    loop = node(
        "loop_0",
        "loop",
        loopFor=ref("start_0", "items"),
        loopOutputs={"answers": ref("ask", "value")},
    )
    loop["blocks"] = [
        node("bs", "block-start"),
        node("ask", "wait", prompt="item {{loop_0_locals.item}}?", outputs=props(value="string")),
        node("be", "block-end"),
    ]
    loop["edges"] = [edge("bs", "ask"), edge("ask", "be")]
    first = start()
    first["data"]["outputs"] = {"type": "object", "properties": {"items": strings}}
    return {
        "nodes": [
            first,
            loop,
            node(
                "end_0",
                "end",
                inputs={"type": "object", "properties": {"answers": strings}},
                inputsValues={"answers": ref("loop_0", "answers")},
            ),
        ],
        "edges": [edge("start_0", "loop_0"), edge("loop_0", "end_0")],
    }


def approval_then_spin() -> dict[str, Any]:
    """start(who) -> wait "approve" -> JavaScript busy until the answer's ``spinUntil`` (epoch ms), echoing
    ``approved`` -> end(approved): a run that stays busy for a while after its answer."""
    script = (
        "async function main({ params }) { while (Date.now() < params.until) {} "
        "return { approved: params.approved }; }"
    )
    return {
        "nodes": [
            start(who="string"),
            node("approve", "wait", prompt="Approve?", outputs=props(approved="boolean", spinUntil="number")),
            node(
                "spin",
                "code",
                inputs=props(approved="boolean", until="number"),
                inputsValues={"approved": ref("approve", "approved"), "until": ref("approve", "spinUntil")},
                outputs=props(approved="boolean"),
                script={"language": "javascript", "content": script},
            ),
            node(
                "end_0",
                "end",
                inputs=props(approved="boolean"),
                inputsValues={"approved": ref("spin", "approved")},
            ),
        ],
        "edges": [edge("start_0", "approve"), edge("approve", "spin"), edge("spin", "end_0")],
    }
