"""A process of the subflow crash test: ``start URL RUN_ID N`` runs a parent flow whose subflow counts to N
in a loop (a child run), recorded at URL; ``orphans URL`` resumes every run a dead process left."""

from __future__ import annotations

import sys
from typing import Any

import anyio

from flowloom import Engine
from flowloom.formats.visualflow import with_subflows

EXEC = "execution"


def pin(pin_id: str, kind: str = "any") -> dict[str, str]:
    return {"id": pin_id, "label": pin_id, "type": kind}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "data": {"nodeType": node_type, "inputs": inputs, "outputs": outputs, **data},
    }


def edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, str]:
    return {"source": source, "sourceHandle": source_handle, "target": target, "targetHandle": target_handle}


def counter() -> dict[str, Any]:
    """count = 0; for i in range(n): count += 1; end with count."""
    return {
        "id": "counter",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("n")]),
            node(
                "each",
                "for",
                [pin("exec-in", EXEC), pin("start"), pin("end"), pin("step")],
                [pin("loop", EXEC), pin("done", EXEC), pin("i"), pin("index")],
                pinDefaults={"start": 0, "step": 1},
            ),
            node("count", "get_var", [pin("name")], [pin("value")], pinDefaults={"name": "count"}),
            node("plus", "add", [pin("a"), pin("b")], [pin("result")], pinDefaults={"b": 1}),
            node(
                "inc",
                "set_var",
                [pin("exec-in", EXEC), pin("name"), pin("value")],
                [pin("exec-out", EXEC), pin("value")],
                pinDefaults={"name": "count"},
            ),
            node("total", "get_var", [pin("name")], [pin("value")], pinDefaults={"name": "count"}),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("count")], []),
        ],
        "edges": [
            edge("start", "exec-out", "each", "exec-in"),
            edge("start", "n", "each", "end"),
            edge("each", "loop", "inc", "exec-in"),
            edge("count", "value", "plus", "a"),
            edge("plus", "result", "inc", "value"),
            edge("each", "done", "end", "exec-in"),
            edge("total", "value", "end", "count"),
        ],
    }


def parent() -> dict[str, Any]:
    flow = {
        "id": "parent",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("n")]),
            node(
                "sf",
                "subflow",
                [pin("exec-in", EXEC), pin("n"), pin("count")],
                [pin("exec-out", EXEC), pin("output"), pin("count")],
                subflowId="counter",
                pinDefaults={"count": 0},
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("count")], []),
        ],
        "edges": [
            edge("start", "exec-out", "sf", "exec-in"),
            edge("sf", "exec-out", "end", "exec-in"),
            edge("start", "n", "sf", "n"),
            edge("sf", "count", "end", "count"),
        ],
    }
    return {**flow, "subflows": {"counter": counter()}}


async def main(command: str, url: str, *args: str) -> None:
    async with Engine(store=url) as engine:
        if command == "start":
            run_id, n = args
            run = engine.start(with_subflows(parent(), _NoSource()), {"n": int(n)}, run_id=run_id)
            await run.join()
        else:
            for run in await engine.resume_orphans():
                await run.join()


class _NoSource:
    def subflow(self, flow_id: str) -> None:
        return None


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
