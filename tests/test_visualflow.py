"""VisualFlow as a front door, in-process: detected by its shape (never confused with flowgram JSON, which
has ``nodes`` and ``edges`` too), compiled to re-entrant and pulled nodes, refused with messages naming the
node, and run with its waits on a store across engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flowloom
from _workflows import double_x
from flowloom.formats import default_formats
from flowloom.ir import Activation, Status

pytestmark = pytest.mark.anyio


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


EXEC = "execution"


def asking_loop() -> dict[str, Any]:
    """Asks once per item of ``items``, collecting the answers, then ends with them."""
    return {
        "id": "ask-loop",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("items", "array")]),
            node(
                "each",
                "loop",
                [pin("exec-in", EXEC), pin("items", "array")],
                [pin("loop", EXEC), pin("done", EXEC), pin("item"), pin("index", "number")],
            ),
            node(
                "ask",
                "ask_user",
                [pin("exec-in", EXEC), pin("prompt", "string")],
                [pin("exec-out", EXEC), pin("response", "string")],
            ),
            node(
                "keep",
                "add_to_list",
                [pin("exec-in", EXEC), pin("name", "string"), pin("item")],
                [pin("exec-out", EXEC), pin("list", "array")],
                pinDefaults={"name": "answers"},
            ),
            node("got", "get_var", [pin("name", "string")], [pin("value")], pinDefaults={"name": "answers"}),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("answers", "array")], []),
        ],
        "edges": [
            edge("start", "exec-out", "each", "exec-in"),
            edge("start", "items", "each", "items"),
            edge("each", "loop", "ask", "exec-in"),
            edge("each", "item", "ask", "prompt"),
            edge("ask", "exec-out", "keep", "exec-in"),
            edge("ask", "response", "keep", "item"),
            edge("each", "done", "end", "exec-in"),
            edge("got", "value", "end", "answers"),
        ],
    }


def test_detection_tells_visualflow_from_flowgram() -> None:
    formats = default_formats()
    assert formats.detect(asking_loop()).name == "visualflow"
    assert formats.detect(double_x()).name == "flowgram"


def test_an_empty_flow_is_visualflow_only_with_the_editors_keys() -> None:
    formats = default_formats()
    assert formats.detect({"name": "nameless", "nodes": [], "edges": []}).name == "visualflow"
    assert formats.detect({"nodes": [], "edges": []}).name == "flowgram"
    assert formats.detect({"name": "x", "nodes": [], "edges": [], "settings": {}}).name != "visualflow"
    with pytest.raises(flowloom.InvalidWorkflowError, match="VisualFlow is missing required 'id'"):
        flowloom.Engine().load({"name": "nameless", "nodes": [], "edges": []})


def test_exec_nodes_are_reentrant_and_pure_nodes_pulled() -> None:
    workflow = default_formats().load(asking_loop()).workflow
    activation = {n.id: n.activation for n in workflow.nodes}
    assert activation["ask"] is Activation.ANY and activation["got"] is Activation.PULL
    assert {n.type for n in workflow.nodes} >= {"vf.loop", "vf.ask_user", "vf.get_var"}


def test_a_loop_back_out_of_its_body_is_refused_naming_the_wire() -> None:
    flow = asking_loop()
    flow["edges"].append(edge("keep", "exec-out", "each", "exec-in"))
    with pytest.raises(flowloom.InvalidWorkflowError, match="goes back out of each's loop body"):
        flowloom.Engine().load(flow)


async def test_a_waiting_loop_is_answered_from_other_engines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with flowloom.Engine(store=url) as engine:
        run = await engine.run(asking_loop(), {"items": ["tea?", "cake?"]})
        assert run.status is Status.WAITING
        assert [(w.reason, w.prompt) for w in run.waits] == [("user", "tea?")]
    answers = iter(["yes", "no"])
    for prompt in ("cake?", None):
        async with flowloom.Engine(store=url) as engine:
            run = await engine.resume(run.id, payload={"response": next(answers)})
            await run.join()
            if prompt is not None:
                assert [w.prompt for w in run.waits if w.status == "open"] == [prompt]
    assert run.status is Status.SUCCEEDED, run.error
    assert await run.wait() == {"answers": ["yes", "no"], "success": True}
