"""Issue 21's table, rows about workflows and inputs: each bad input gets a clear error naming what and
where (CLI exit 2, one line, no traceback), or, where a run goes on as upstream's would, a warning."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flowloom
from _workflows import double_x, ref
from test_cli import assert_one_line_error, write
from test_cli import flowloom as cli

pytestmark = pytest.mark.anyio

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> dict[str, Any]:
    """``tests/_workflows.double_x()`` (start_0 -> code_0 -> end_0) with one edit."""
    workflow = double_x()
    edit(workflow)
    return workflow


def code_node(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["id"] == "code_0")


def end_values(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["id"] == "end_0")["data"]["inputsValues"]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


# --- inputs -------------------------------------------------------------------------------------------


def test_inputs_nested_100000_deep_is_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    workflow = write(tmp_path, double_x())
    for args in (["run", workflow, "--json"], ["validate", workflow]):
        result = cli(*args, "--inputs", f"@{deep}")
        assert_one_line_error(result, f"inputs file {deep}", "nested too deeply")
    as_argument = '{"x": ' + "[" * 50_000 + "]" * 50_000 + "}"  # an argument is at most 128 KiB
    assert_one_line_error(cli("run", workflow, "--inputs", as_argument), "--inputs", "nested too deeply")


def test_inputs_from_a_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "inputs.bin"
    binary.write_bytes(bytes(range(256)))
    result = cli("run", write(tmp_path, double_x()), "--inputs", f"@{binary}")
    assert_one_line_error(result, f"inputs file {binary}", "is not UTF-8 text")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"x": 1e999}', "the number 1e999 is too large"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": [1, -Infinity]}', "-Infinity is not a JSON number"),
    ],
    ids=["overflow", "nan", "infinity"],
)
def test_non_finite_inputs_are_refused_by_the_cli(tmp_path: Path, text: str, fragment: str) -> None:
    result = cli("run", write(tmp_path, double_x()), "--no-store", "--inputs", text)
    assert_one_line_error(result, "--inputs", fragment)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
async def test_non_finite_inputs_are_refused_by_the_engine(value: float) -> None:
    engine = flowloom.Engine()
    run = await engine.run(double_x(), {"x": [1, {"deep": value}]})
    assert run.status is flowloom.Status.FAILED
    assert run.error is not None and run.error.startswith("inputs.x[1].deep is ")
    assert "a JSON number must be finite" in run.error
    assert run.report().reports == {}  # no node ran
    validation = engine.validate(double_x(), {"x": value})
    assert (validation.valid, validation.errors) == (
        False,
        [f"inputs.x is {value}: a JSON number must be finite"],
    )


def test_validate_without_inputs_checks_the_workflow_only(tmp_path: Path) -> None:
    workflow = edited(lambda w: w["nodes"][0]["data"]["outputs"].update(required=["x"]))
    path = write(tmp_path, workflow)
    result = cli("validate", path)
    assert (result.returncode, result.stderr) == (0, "")
    assert f"valid {path}" in result.stdout


@pytest.mark.parametrize("command", ["validate", "run"])
def test_inputs_of_the_wrong_type_are_invalid_inputs_not_an_invalid_workflow(
    tmp_path: Path, command: str
) -> None:
    path = write(tmp_path, double_x())
    store = ["--no-store"] if command == "run" else []
    result = cli(command, path, *store, "--inputs", '{"x": "a"}')
    assert_one_line_error(result, f"invalid inputs for {path}", 'Expected number at x, but got: "a"')
    assert "invalid workflow" not in result.stderr


# --- node settings, node types, refs ------------------------------------------------------------------

SETTINGS: dict[str, tuple[Edit, str]] = {
    "retry-negative": (
        lambda w: code_node(w).update(retry={"maxAttempts": -5}),
        'node "code_0": retry.maxAttempts: Input should be greater than or equal to 1 (got -5)',
    ),
    "retry-not-an-object": (
        lambda w: code_node(w).update(retry=3),
        'node "code_0": retry must be an object, got a number',
    ),
    "retry-unknown-key": (
        lambda w: code_node(w).update(retry={"maxAttempt": 3}),
        'node "code_0": retry.maxAttempt is not a setting',
    ),
    "timeout-text": (
        lambda w: code_node(w).update(timeoutS="ten"),
        "node \"code_0\": timeoutS must be a positive number of seconds (got 'ten')",
    ),
    "timeout-zero": (
        lambda w: code_node(w).update(timeoutS=0),
        'node "code_0": timeoutS must be a positive number of seconds (got 0)',
    ),
    "cache-negative-ttl": (
        lambda w: code_node(w).update(cache={"ttlS": -1}),
        'node "code_0": cache.ttlS must be a positive number of seconds (got -1)',
    ),
    "cache-ttl-text": (
        lambda w: code_node(w).update(cache={"ttlS": "soon"}),
        'node "code_0": cache.ttlS: Input should be a valid number',
    ),
}


@pytest.mark.parametrize("case", list(SETTINGS), ids=list(SETTINGS))
def test_validate_refuses_malformed_node_settings(tmp_path: Path, case: str) -> None:
    edit, message = SETTINGS[case]
    path = write(tmp_path, edited(edit))
    assert_one_line_error(cli("validate", path, "--inputs", '{"x": 1}'), f"invalid workflow {path}", message)


async def test_a_run_with_malformed_settings_warns_and_runs_without_them() -> None:
    engine = flowloom.Engine()
    edit, message = SETTINGS["retry-negative"]
    run = await engine.run(edited(edit), {"x": 2})
    assert (run.status, run.outputs) == (flowloom.Status.SUCCEEDED, {"y": 4})
    warnings = run.report().to_json()["messages"]["warning"]
    assert [(w["nodeID"], w["message"]) for w in warnings] == [("code_0", message)]
    assert not engine.validate(edited(edit), {"x": 2}, strict=True).valid
    assert engine.validate(edited(edit), {"x": 2}).valid  # upstream's TaskValidate ignores the key


def test_a_cli_run_prints_the_warning(tmp_path: Path) -> None:
    edit, message = SETTINGS["timeout-text"]
    result = cli("run", write(tmp_path, edited(edit)), "--no-store", "--inputs", '{"x": 1}')
    assert result.returncode == 0, result.stderr
    assert f"warning: {message}" in result.stderr.splitlines()


def test_validate_refuses_an_unknown_node_type(tmp_path: Path) -> None:
    path = write(tmp_path, edited(lambda w: code_node(w).update(type="teleport")))
    assert_one_line_error(
        cli("validate", path, "--inputs", '{"x": 1}'), 'node "code_0": unknown node type "teleport"'
    )


REFS: dict[str, tuple[Edit, str]] = {
    "missing-node": (
        lambda w: end_values(w).update(y=ref("ghost_0", "y")),
        'node "end_0", inputsValues.y: ref to node "ghost_0", which does not exist',
    ),
    "undeclared-output": (
        lambda w: end_values(w).update(y=ref("code_0", "zz")),
        'node "end_0", inputsValues.y: ref to output "zz" of node "code_0", which it does not declare',
    ),
    "not-upstream": (
        lambda w: code_node(w)["data"]["inputsValues"].update(x=ref("end_0", "y")),
        'node "code_0", inputsValues.x: ref to node "end_0", which is not upstream of "code_0"',
    ),
}


@pytest.mark.parametrize("case", list(REFS), ids=list(REFS))
def test_validate_refuses_refs_that_cannot_resolve(tmp_path: Path, case: str) -> None:
    edit, message = REFS[case]
    path = write(tmp_path, edited(edit))
    assert_one_line_error(cli("validate", path, "--inputs", '{"x": 1}'), f"invalid workflow {path}", message)


@pytest.mark.parametrize("case", list(REFS), ids=list(REFS))
async def test_a_run_warns_about_refs_that_cannot_resolve(case: str) -> None:
    edit, message = REFS[case]
    run = await flowloom.Engine().run(edited(edit), {"x": 1})
    warnings = run.report().to_json()["messages"]["warning"]
    assert any(w["message"].startswith(message) for w in warnings), warnings


async def test_refs_inside_a_loop_to_its_locals_and_to_outer_nodes_are_fine() -> None:
    quickstart = json.loads((Path(__file__).parents[1] / "examples" / "quickstart.json").read_text())
    engine = flowloom.Engine()
    assert engine.strict_errors(engine.load(quickstart)) == []
