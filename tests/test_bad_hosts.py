"""Issue 21's table, rows about stores, the server and the command line around runs: each a clear error
naming what and where (never a traceback), or the behaviour a user expects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from _server import live_server
from _workflows import double_x, edge
from test_cli import FLOWLOOM, assert_one_line_error, flowloom, write
from test_cli_runs import processing_run, runs_json, slow_chain, wait_until

STORE_ENV = "FLOWLOOM_DATABASE_URL"


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORE_ENV, f"sqlite:///{tmp_path / 'history.db'}")


def with_env(**env: str) -> dict[str, str]:
    return {**os.environ, **env}


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWLOOM, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, env=env
    )


# --- stores -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["run", "WF", "--inputs", '{"x": 1}'], ["runs", "list"], ["serve"]])
def test_a_database_url_of_an_unknown_scheme_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    args = [write(tmp_path, double_x()) if a == "WF" else a for a in command]
    result = run_cli(*args, env=with_env(**{STORE_ENV: "garbage://x"}))
    assert_one_line_error(result, "unsupported store URL 'garbage://x'", "sqlite:///path")


def test_a_sqlite_url_without_a_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, double_x())
    result = flowloom("run", path, "--inputs", '{"x": 1}', "--store", "sqlite:///")
    assert_one_line_error(result, "'sqlite:///' names no file")
    memory = flowloom("run", path, "--inputs", '{"x": 1}', "--store", "sqlite://")
    assert_one_line_error(memory, "keeps runs in memory only", "--no-store")
    assert_one_line_error(flowloom("runs", "list", "--store", "sqlite://"), "keeps runs in memory only")


def test_a_store_in_a_directory_that_does_not_exist_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    result = flowloom(
        "run", write(tmp_path, double_x()), "--inputs", '{"x": 1}', "--store", f"sqlite:///{missing}/runs.db"
    )
    assert_one_line_error(result, f"directory {missing} does not exist")
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_store_makes_its_own_directory(tmp_path: Path) -> None:
    data_home = tmp_path / "fresh-data-home"
    env = with_env(XDG_DATA_HOME=str(data_home))
    env.pop(STORE_ENV)
    result = run_cli("run", write(tmp_path, double_x()), "--inputs", '{"x": 1}', "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert (data_home / "flowloom" / "runs.db").is_file()


def test_serve_with_a_directory_as_its_store_is_one_line(tmp_path: Path) -> None:
    result = flowloom("serve", "--port", "0", "--store", f"sqlite:///{tmp_path}")
    assert_one_line_error(result, f"cannot open SQLite database {tmp_path}")


def test_serve_refuses_a_port_out_of_range() -> None:
    result = flowloom("serve", "--port", "80000")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "'--port': 80000 is not in the range 0<=x<=65535" in result.stderr


# --- runs from the command line ----------------------------------------------------------------------


def test_ctrl_c_names_the_run_and_how_to_resume_it(tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(30))
    process = subprocess.Popen(
        [str(FLOWLOOM), "run", str(path), "--inputs", '{"x": 0}', "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal sends it: the default handler, even when this test runs in the background
        # of a shell without job control, whose children inherit SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    run_id = wait_until(lambda: processing_run(1), "a node to succeed")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: interrupted: run {run_id} was canceled; `flowloom runs resume {run_id}` continues it"
    ]
    assert out == ""  # --json prints nothing for a run that did not end
    assert runs_json("show", run_id)["run"]["status"] == "canceled"
    resumed = flowloom("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["outputs"] == {"y": 30}


def test_runs_take_a_unique_prefix_of_an_id(tmp_path: Path) -> None:
    path = write(tmp_path, double_x())
    ids = [
        json.loads(flowloom("run", path, "--inputs", json.dumps({"x": x}), "--json").stdout)["report"]["id"]
        for x in (1, 2)
    ]
    first, second = ids
    differs_at = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
    prefix = first[: max(8, differs_at + 1)]
    shown = runs_json("show", prefix)
    assert shown["run"]["id"] == first and shown["report"]["outputs"] == {"y": 2}
    assert "already ended" in flowloom("runs", "cancel", prefix).stdout
    assert_one_line_error(flowloom("runs", "show", "abc"), "4 characters or more")
    assert_one_line_error(flowloom("runs", "show", "zzzzzzzz"), "no run 'zzzzzzzz'")


def test_every_node_type_is_described() -> None:
    result = flowloom("nodes")
    assert result.returncode == 0
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) >= 11
    for line in lines:
        node_type, _, description = line.partition(" ")
        assert len(description.strip()) > 10, f"{node_type} has no description"


# --- the server ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_malformed_node_settings_over_http_are_never_a_500() -> None:
    workflow = double_x()
    workflow["nodes"][1]["retry"] = {"maxAttempts": -5}
    async with live_server() as server, server.client() as client:
        validated = await client.post(
            "/api/task/validate", json={"schema": json.dumps(workflow), "inputs": {"x": 1}}
        )
        assert (validated.status_code, validated.json()) == (200, {"valid": True})  # upstream's answer
        started = await client.post(
            "/api/task/run", json={"schema": json.dumps(workflow), "inputs": {"x": 1}}
        )
        assert started.status_code == 200
        task_id = started.json()["taskID"]
        report = await _finished_report(client, task_id)
        assert report["outputs"] == {"y": 2}
        assert [w["message"] for w in report["messages"]["warning"]] == [
            'node "code_0": retry.maxAttempts: Input should be greater than or equal to 1 (got -5)'
        ]
        created = await client.post("/api/v1/runs", json={"workflow": workflow, "inputs": {"x": 1}})
        assert created.status_code == 201


@pytest.mark.anyio
@pytest.mark.parametrize("as_text", [False, True])
async def test_a_cyclic_workflow_is_refused_by_the_runs_api(as_text: bool) -> None:
    workflow = double_x()
    workflow["edges"].append(edge("end_0", "code_0"))
    ir_cycle = {
        "format": "flowloom",
        "nodes": [{"id": "a", "type": "start"}, {"id": "b", "type": "end"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    }
    async with live_server() as server, server.client() as client:
        for document in (workflow, ir_cycle):
            sent = json.dumps(document) if as_text else document
            response = await client.post("/api/v1/runs", json={"workflow": sent, "inputs": {"x": 1}})
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "INVALID_WORKFLOW"
            assert "cycle" in response.json()["message"]
        runs = await client.get("/api/v1/runs")
        assert runs.json()["total"] == 0


@pytest.mark.anyio
async def test_a_number_beyond_a_double_is_refused_over_http() -> None:
    body = '{"workflow": ' + json.dumps(double_x()) + ', "inputs": {"x": 1e999}}'
    async with live_server() as server, server.client() as client:
        response = await client.post(
            "/api/v1/runs", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "PARSE_ERROR"
        assert "1e999 is too large" in response.json()["message"]


async def _finished_report(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    with anyio.fail_after(30):
        while True:
            report = (await client.get("/api/task/report", params={"taskID": task_id})).json()
            if report["workflowStatus"]["terminated"]:
                return report  # type: ignore[no-any-return]
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_schema_string_nested_100000_deep_is_a_400_not_a_500() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    async with live_server() as server, server.client() as client:
        for path, body in (
            ("/api/task/run", {"schema": deep, "inputs": {}}),
            ("/api/v1/runs", {"workflow": deep, "inputs": {}}),
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 400, path
            assert "nested too deeply" in response.json()["message"]
        validated = await client.post("/api/task/validate", json={"schema": deep, "inputs": {}})
        assert validated.json() == {"valid": False, "errors": ["schema is nested too deeply to read"]}
