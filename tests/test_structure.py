"""Structural validation of every ``ir.Workflow``, whatever door it came through (Python, the CLI, the
server), and the format seam: detection by content, ``--format`` to force one, flowloom's workflow JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flowloom
from _server import live_server
from _workflows import double_x
from flowloom.formats import default_formats, read_document

pytestmark = pytest.mark.anyio
FLOWLOOM = Path(sys.executable).parent / "flowloom"


def ir_workflow(nodes: list[tuple[str, str]], edges: list[tuple[str, str]]) -> dict[str, Any]:
    """flowloom's own workflow JSON (an ``ir.Workflow`` dumped)."""
    return {
        "format": "flowloom",
        "nodes": [{"id": node_id, "type": node_type} for node_id, node_type in nodes],
        "edges": [{"source": source, "target": target} for source, target in edges],
    }


CYCLE = ir_workflow(
    [("start_0", "start"), ("a", "start"), ("b", "end"), ("end_0", "end")],
    [("start_0", "a"), ("a", "b"), ("b", "a"), ("b", "end_0")],
)
MISSING = ir_workflow([("start_0", "start"), ("end_0", "end")], [("start_0", "ghost"), ("start_0", "end_0")])
UNKNOWN_TYPE = ir_workflow(
    [("start_0", "start"), ("x", "teleport"), ("end_0", "end")], [("start_0", "x"), ("x", "end_0")]
)
UNKNOWN_PORT = ir_workflow([("start_0", "start"), ("end_0", "end")], [("start_0", "end_0")])
UNKNOWN_PORT["edges"][0]["source_port"] = "sideways"
BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "cycle": (CYCLE, 'the workflow has a cycle: "a" -> "b" -> "a"'),
    "missing node": (MISSING, 'edge "start_0" -> "ghost": target node "ghost" does not exist'),
    "unknown type": (UNKNOWN_TYPE, 'node "x": unknown node type "teleport"'),
    "unknown port": (
        UNKNOWN_PORT,
        'edge "start_0" -> "end_0": node "start_0" has no output port "sideways" '
        '(its ports: "defaultOutput")',
    ),
}


def flowloom_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWLOOM, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_python_refuses_a_broken_workflow(case: str) -> None:
    document, message = BROKEN[case]
    workflow = flowloom.Workflow.model_validate(document)
    async with flowloom.Engine() as engine:
        with pytest.raises(flowloom.InvalidWorkflowError) as caught:
            engine.start(workflow, {})
        assert message in caught.value.errors
        result = engine.validate(workflow)
        assert not result.valid and message in (result.errors or [])
        with pytest.raises(flowloom.InvalidWorkflowError) as from_json:
            engine.load(document)  # the same, from its JSON (detected as flowloom's format)
        assert from_json.value.errors == caught.value.errors


async def test_a_cycle_inside_a_loop_body_names_the_loop() -> None:
    workflow = flowloom.Workflow.model_validate(
        {
            "nodes": [
                {
                    "id": "loop_1",
                    "type": "loop",
                    "blocks": [{"id": "p", "type": "block-start"}, {"id": "q", "type": "block-end"}],
                    "block_edges": [{"source": "p", "target": "q"}, {"source": "q", "target": "p"}],
                }
            ]
        }
    )
    result = flowloom.Engine().validate(workflow)
    assert result.errors == ['the workflow in the block of node "loop_1" has a cycle: "p" -> "q" -> "p"']


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_cli_exits_2_naming_the_problem(case: str, tmp_path: Path) -> None:
    document, message = BROKEN[case]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(document))
    for result in (flowloom_cli("run", path, "--no-store"), flowloom_cli("validate", path)):
        assert result.returncode == 2, result
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_server_answers_400_naming_the_problem(case: str) -> None:
    document, message = BROKEN[case]
    async with live_server() as server, server.client() as client:
        response = await client.post("/api/v1/runs", json={"workflow": document, "inputs": {}})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "INVALID_WORKFLOW" and message in body["message"]
        listed = await client.get("/api/v1/runs")
        assert listed.json()["total"] == 0  # nothing was started


async def test_flowloom_json_runs_like_the_flowgram_it_came_from(tmp_path: Path) -> None:
    workflow = flowloom.formats.flowgram.to_workflow(double_x())
    document = workflow.model_dump(mode="json")
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(document))
    assert await flowloom.run(path, {"x": 4}) == {"y": 8}
    result = flowloom_cli("run", path, "--inputs", '{"x": 5}', "--json", "--no-store")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"y": 10}


def test_detection_by_content_and_forcing_a_format(tmp_path: Path) -> None:
    formats = default_formats()
    assert formats.detect(double_x()).name == "flowgram"
    assert formats.detect(CYCLE).name == "flowloom"
    assert formats.detect({"something": "else"}).name == "flowgram"  # the fallback explains what is wrong
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(CYCLE))
    forced = flowloom_cli("validate", path, "--format", "flowgram")
    assert forced.returncode == 2 and "Workflow schema" in forced.stderr  # flowgram's own messages
    unknown = flowloom_cli("validate", path, "--format", "bpmn")
    assert unknown.returncode == 2
    assert (
        "unknown workflow format 'bpmn'; known: visualflow, flowloom, flowengine, flowgram" in unknown.stderr
    )


def test_a_bad_field_of_flowloom_json_is_named() -> None:
    document = ir_workflow([("start_0", "start"), ("end_0", "end")], [("start_0", "end_0")])
    document["nodes"][0]["retry"] = {"max_attempts": -5}
    with pytest.raises(flowloom.InvalidWorkflowError) as caught:
        flowloom.Engine().load(document)
    assert caught.value.errors == ["nodes.0.retry.max_attempts: Input should be greater than or equal to 1"]


def test_text_is_a_path_unless_it_is_json(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(double_x()))
    assert read_document(str(path))[0] == double_x()
    assert read_document(json.dumps(double_x()))[0] == double_x()
    with pytest.raises(flowloom.InvalidWorkflowError, match="schema is not valid JSON"):
        read_document(flowloom.formats.JsonText("wf.json"))  # what servers pass: never a path


def test_an_edge_from_a_port_the_node_does_not_have_is_refused() -> None:
    document = ir_workflow(
        [("start_0", "start"), ("c", "condition"), ("end_0", "end")],
        [("start_0", "c"), ("c", "end_0")],
    )
    document["nodes"][1]["data"] = {"conditions": [{"key": "if_a", "value": {}}]}
    document["edges"][1]["source_port"] = "if_b"
    document["edges"][0]["source_port"] = "sideways"
    errors = flowloom.Engine().validate(document).errors
    assert errors == [
        'edge "start_0" -> "c": node "start_0" has no output port "sideways" (its ports: "defaultOutput")',
        'edge "c" -> "end_0": node "c" has no output port "if_b" (its ports: "else", "if_a")',
    ]
    document["edges"][0]["source_port"] = "defaultOutput"
    document["edges"][1]["source_port"] = "if_a"
    flowloom.Engine().load(document)  # the same edges from ports the nodes have: accepted
