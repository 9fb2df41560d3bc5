"""The ``flowloom`` command, run as a real subprocess: outputs, ``--json`` purity, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _workflows import chain, double_x, edge, end, js, node, start

ROOT = Path(__file__).resolve().parents[1]
FLOWLOOM = Path(sys.executable).parent / "flowloom"
QUICKSTART = ROOT / "examples" / "quickstart.json"
QUICKSTART_INPUTS = ROOT / "examples" / "quickstart.inputs.json"


def flowloom(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWLOOM, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def write(tmp_path: Path, schema: Any, name: str = "wf.json") -> Path:
    path = tmp_path / name
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    return path


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_run_quickstart_prints_outputs() -> None:
    result = flowloom("run", QUICKSTART, "--inputs", f"@{QUICKSTART_INPUTS}")
    assert result.returncode == 0, result.stderr
    assert "condition_0" in result.stdout and "succeeded" in result.stdout
    assert '"summary": "Ada pays 144 (volume discount: 10% off)"' in result.stdout


def test_run_json_prints_exactly_one_object() -> None:
    result = flowloom("run", QUICKSTART, "--inputs", QUICKSTART_INPUTS.read_text(), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert set(payload) == {"run_id", "status", "outputs", "waiting", "waits", "error", "report"}
    assert payload["error"] is None
    assert payload["waiting"] is None and payload["waits"] == []
    assert payload["status"] == "succeeded"
    assert payload["outputs"]["subtotal"] == 160
    assert payload["report"]["reports"]["line_0"]["snapshots"][2]["outputs"]["total"] == 30
    assert payload["report"]["workflowStatus"]["status"] == "succeeded"


def test_a_json_run_loads_only_what_it_needs(tmp_path: Path) -> None:
    """``run --json --no-store`` of a start and an end node: no store, no other node type's executor, no
    HTTP, LLM, sandbox, server or terminal UI."""
    argv = ["flowloom", "run", str(write(tmp_path, chain(start(), end()))), "--json", "--no-store"]
    code = f"""
import sys
from flowloom.cli import main
sys.argv = {argv!r}
try:
    main()
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(*sys.modules, sep="\\n", file=sys.stderr)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"
    heavy = {"fastapi", "httpx", "openai", "quickjs", "rich", "sqlalchemy", "uvicorn"}
    ours = {"flowloom.pipeline", "flowloom.server", "flowloom.stores", "flowloom.workers"}
    ours |= {f"flowloom.nodes.{name}" for name in ("blocks", "code", "condition", "http", "llm", "loop")}
    assert set(result.stderr.split()) & (heavy | ours) == set()


def test_failed_run_exits_1(tmp_path: Path) -> None:
    schema = chain(start(), js("code_0", "async function main() { throw 'bad input'; }"), end())
    result = flowloom("run", write(tmp_path, schema), "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["status"] == "failed"
    assert payload["report"]["messages"]["error"][0]["message"] == "Code execution failed: bad input"


def test_unknown_node_type_fails_the_run(tmp_path: Path) -> None:
    result = flowloom("run", write(tmp_path, chain(start(), node("x_0", "teleport"), end())))
    assert result.returncode == 1
    assert "No executor found for node type teleport" in result.stderr


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("{not json", ["is not valid JSON", "line 1 column 2"]),
        ("[1, 2]", ["Workflow schema must be a valid object"]),
        (json.dumps({"nodes": [start()], "edges": []}), ["must have an end node"]),
        (json.dumps({"nodes": [], "edges": []}), ["must have a start node and an end node"]),
        (
            json.dumps(
                {
                    **chain(start(), node("a_0", "code"), end()),
                    "edges": [
                        {"sourceNodeID": "start_0", "targetNodeID": "a_0"},
                        {"sourceNodeID": "a_0", "targetNodeID": "start_0"},
                        {"sourceNodeID": "a_0", "targetNodeID": "end_0"},
                    ],
                }
            ),
            ["contains a cycle"],
        ),
        (
            json.dumps({**chain(start(), end()), "edges": [edge("start_0", "ghost")]}),
            ['edge target node "ghost" not exist'],
        ),
    ],
    ids=["not-json", "not-an-object", "no-end", "no-start-no-end", "cycle", "edge-to-missing-node"],
)
def test_invalid_workflows_exit_2(tmp_path: Path, content: str, fragments: list[str]) -> None:
    path = write(tmp_path, content)
    for command in ("run", "validate"):
        assert_one_line_error(flowloom(command, path), str(path), *fragments)


def test_invalid_workflow_with_json_still_prints_one_object(tmp_path: Path) -> None:
    result = flowloom("run", write(tmp_path, {"nodes": [start()], "edges": []}), "--json")
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["status"] == "failed"
    assert [m["message"] for m in payload["report"]["messages"]["error"]] == [
        "Workflow schema must have an end node"
    ]


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert_one_line_error(flowloom("run", tmp_path / "nope.json"), "nope.json", "No such file")


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ('{"x": "one"}', 'Expected number at x, but got: "one"'),
        ("{x}", "--inputs is not valid JSON"),
        ("[1]", "--inputs must be a JSON object"),
        ("@/no/such/inputs.json", "cannot read inputs file"),
    ],
    ids=["wrong-type", "not-json", "not-an-object", "missing-file"],
)
def test_bad_inputs_exit_2(tmp_path: Path, inputs: str, fragment: str) -> None:
    assert_one_line_error(flowloom("run", write(tmp_path, double_x()), "--inputs", inputs), fragment)


def test_validate_ok(tmp_path: Path) -> None:
    result = flowloom("validate", write(tmp_path, double_x()), "--inputs", '{"x": 1}')
    assert result.returncode == 0
    assert "valid" in result.stdout


def test_nodes_lists_built_in_types() -> None:
    result = flowloom("nodes")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {
        "start",
        "end",
        "condition",
        "loop",
        "block-start",
        "block-end",
        "break",
        "continue",
        "code",
    } <= listed
    by_type = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert by_type["start"].split()[1:4] == ["flowgram", "entry,", "lightweight"]
    assert by_type["break"].split()[2:5] == ["terminal,", "lightweight,", "replayed"]
    assert by_type["http"].split()[1:3] == ["flowgram", "-"]
    assert "Sends one HTTP request" in by_type["http"]


def test_nodes_json_lists_metadata_of_every_type() -> None:
    result = flowloom("nodes", "--json")
    assert result.returncode == 0, result.stderr
    listed = {entry["type"]: entry for entry in json.loads(result.stdout)}
    assert all(entry["description"] for entry in listed.values())  # none left empty
    code = listed["code"]
    assert code["category"] == "flowgram" and code["traits"]["lightweight"] is False
    assert code["config"] == [
        {
            "name": "script",
            "type": "object",
            "description": "language (javascript or python) and content",
            "required": True,
        }
    ]
    assert (code["inputs"], code["outputs"]) == (["defaultInput"], ["defaultOutput"])


def test_version() -> None:
    result = flowloom("--version")
    assert result.returncode == 0 and result.stdout.startswith("flowloom ")
