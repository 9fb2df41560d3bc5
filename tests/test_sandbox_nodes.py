"""sandbox.exec and api.call in a real bubblewrap sandbox; zypi.exec, zypi.session_create and the Zypi
variant of api.call against flowloom.testing's Zypi server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import flowloom
from _heavy import heavy_node, refusal, run_nodes, workflow
from flowloom.testing import HttpEchoServer, ZypiMockServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine() -> AsyncIterator[flowloom.Engine]:
    engine = flowloom.Engine()
    yield engine
    await engine.aclose()


async def test_sandbox_exec_injects_files_pipes_stdin_and_keeps_the_host_read_only(
    engine: flowloom.Engine, tmp_path: Path
) -> None:
    script = (
        'cat; echo "|$STDIN|$V|${HOME}"; cat data.txt; touch /usr/x 2>/dev/null && echo wrote || echo ro; '
        f"touch {tmp_path}/y 2>/dev/null && echo wrote || echo ro; echo t > /tmp/t && cat /tmp/t; "
        'echo "${FLOWLOOM_SECRET-absent}"; exit 3'
    )
    document = workflow(
        heavy_node(
            "s",
            "sandbox.exec",
            {"command": ["sh", "-c", script], "workdir": "/app", "env": {"V": "from-config"}},
            stdin="piped",
            v=42,
            **{"file:/app/data.txt": "D\n"},
        )
    )
    found = await run_nodes(engine, document)
    outputs = found["s"]["outputs"]
    assert found["s"]["status"] == "succeeded"
    assert outputs["stdout"] == "piped|piped|42|/tmp\nD\nro\nro\nt\nabsent\n"
    assert (outputs["exit_code"], outputs["success"], outputs["stderr"]) == (3, False, "")
    assert not (tmp_path / "y").exists()


async def test_sandbox_exec_has_no_network_and_parses_json_output(engine: flowloom.Engine) -> None:
    async with HttpEchoServer() as echo:
        probe = (
            "import json, urllib.request\ntry:\n"
            f"    urllib.request.urlopen('{echo.base_url}/x', timeout=3); r = 'reached'\n"
            "except Exception:\n    r = 'blocked'\nprint(json.dumps({'net': r}))"
        )
        found = await run_nodes(
            engine, workflow(heavy_node("s", "sandbox.exec", {"command": ["python3", "-c", probe]}))
        )
    assert found["s"]["outputs"]["output"] == {"net": "blocked"}


async def test_sandbox_exec_timeout_memory_limit_and_bad_paths(engine: flowloom.Engine) -> None:
    document = workflow(
        heavy_node("slow", "sandbox.exec", {"command": "sleep 10", "timeout": 0.5}),
        heavy_node(
            "greedy",
            "sandbox.exec",
            {"command": ["python3", "-c", "x = bytearray(512 * 1024 * 1024)"], "memory_mb": 64},
        ),
        heavy_node("bad", "sandbox.exec", {"command": ["true"]}, **{"file:/usr/evil": "x"}),
        heavy_node("missing", "sandbox.exec", {"command": ["no-such-program-here"]}),
    )
    found = await run_nodes(engine, document)
    assert found["slow"] == {"status": "failed", "outputs": None, "error": "Timeout after 0.5s"}
    assert found["greedy"]["outputs"]["exit_code"] != 0
    assert found["bad"]["error"] == "Execution failed: file /usr/evil is in a read-only system directory"
    assert found["missing"]["outputs"]["exit_code"] != 0  # bwrap reports the missing program: a result
    # a config of the wrong type is refused before anything runs, naming node and key
    assert refusal(engine, heavy_node("unconfigured", "sandbox.exec", {"command": 5})) == [
        'node "unconfigured": config key "command" must be array or string, got number'
    ]


async def test_api_call_runs_a_script_with_inputs_as_env_and_the_network(engine: flowloom.Engine) -> None:
    script = (
        "import json, os, sys, urllib.request\n"
        "req = urllib.request.Request(os.environ['URL'], headers={'X-Token': os.environ['TOKEN']})\n"
        "echo = json.loads(urllib.request.urlopen(req).read())\n"
        "print(json.dumps({'n': int(os.environ['N']), 'sum': sum(json.load(sys.stdin)), "
        "'token': echo['headers']['x-token'], 'leak': os.environ.get('FLOWLOOM_SECRET')}))"
    )
    async with HttpEchoServer() as echo:
        document = workflow(
            heavy_node(
                "a",
                "api.call",
                {"script": script, "env": {"TOKEN": "t0k"}},
                url=f"{echo.base_url}/api",
                n=4,
                stdin=[1, 2, 3],
            ),
            heavy_node("boom", "api.call", {"script": "raise ValueError('boom')", "name": "my-integration"}),
            heavy_node("greedy", "api.call", {"script": "x = bytearray(1024 ** 3)", "memory_mb": 128}),
        )
        found = await run_nodes(engine, document)
    assert found["a"]["outputs"]["output"] == {"n": 4, "sum": 6, "token": "t0k", "leak": None}
    assert found["boom"]["error"].startswith("Execution failed: my-integration failed (exit 1): Traceback")
    assert "ValueError: boom" in found["boom"]["error"]
    assert found["greedy"]["error"].startswith("Execution failed: api.call failed (exit 1)")
    [refused] = refusal(engine, heavy_node("pkgs", "api.call", {"script": "pass", "packages": ["requests"]}))
    assert 'config key "packages" needs "zypi_url"' in refused


async def test_zypi_exec_sessions_and_requests(engine: flowloom.Engine) -> None:
    async with ZypiMockServer() as zypi:
        url = zypi.base_url
        document = workflow(
            heavy_node(
                "sess", "zypi.session_create", {"url": url, "memory_mb": 512}, declare=("session_id",)
            ),
            heavy_node(
                "put",
                "zypi.exec",
                {"url": url, "command": ["true"]},
                declare=("session_id",),
                session_id=("ref", "sess", "session_id"),
                **{"file:/data/in.txt": "persist"},
            ),
            heavy_node(
                "get",
                "zypi.exec",
                {"url": url, "command": ["cat", "/data/in.txt"]},
                session_id=("ref", "put", "session_id"),
            ),
            heavy_node(
                "req",
                "zypi.exec",
                {"url": url, "command": "__request__  a", "env": {"A": "1"}, "workdir": "/w", "vcpus": 2},
                value=42,
                obj={"a": 1},
                files={"/y.txt": "Y"},
            ),
            heavy_node(
                "run", "zypi.exec", {"url": url, "command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}
            ),
            heavy_node(
                "py", "api.call", {"zypi_url": url, "script": "import os; print(os.environ['N'])"}, n=5
            ),
            edges=[("sess", "put"), ("put", "get")],
        )
        found = await run_nodes(engine, document)
    assert found["sess"]["outputs"]["container_id"] == "ctr-1/1/512/-"
    assert found["get"]["outputs"]["stdout"] == "persist"
    assert found["get"]["outputs"]["session_id"] == "sess-1"
    request = found["req"]["outputs"]["output"]
    assert request["path"] == "/exec"
    assert request["body"] == {
        "cmd": ["__request__", "a"],
        "image": "ubuntu:24.04",
        "timeout": 300,
        "env": {"A": "1", "VALUE": "42", "OBJ": '{"a":1}'},
        "workdir": "/w",
        "vcpus": 2,
        "files": {"/y.txt": "Y"},
    }
    ran = found["run"]["outputs"]
    assert (ran["stdout"], ran["stderr"], ran["exit_code"], ran["success"]) == ("out\n", "err\n", 3, False)
    assert found["py"]["outputs"]["output"] == 5


async def test_zypi_errors_name_what_went_wrong(engine: flowloom.Engine) -> None:
    async with ZypiMockServer() as zypi, HttpEchoServer() as echo:
        url = zypi.base_url
        document = workflow(
            heavy_node(
                "status", "zypi.exec", {"url": url, "command": ["__status__", "503", "pool exhausted"]}
            ),
            heavy_node("garbage", "zypi.exec", {"url": url, "command": ["__garbage__"]}),
            heavy_node(
                "nosession", "zypi.exec", {"url": url, "command": ["true"], "session_id": "sess-nope"}
            ),
            heavy_node("slow", "zypi.exec", {"url": url, "command": ["sleep", "5"], "timeout": 0.5}),
            heavy_node("gone", "zypi.exec", {"url": "http://127.0.0.1:1", "command": ["true"]}),
            heavy_node("not201", "zypi.session_create", {"url": echo.base_url}),
        )
        found = await run_nodes(engine, document)
    errors = {node_id: result["error"] for node_id, result in found.items()}
    assert errors["status"] == "Execution failed: Zypi error (503): pool exhausted"
    assert errors["garbage"].startswith("Execution failed: Failed to parse Zypi response: ")
    assert errors["nosession"] == "Execution failed: Zypi error (404): session sess-nope not found"
    assert errors["slow"] == "Timeout after 0.5s"
    assert errors["gone"].startswith(
        "Execution failed: Cannot connect to Zypi at http://127.0.0.1:1 — is it running? ("
    )
    assert errors["not201"] == "Execution failed: Zypi session create error (200): Unknown error"


def test_the_cli_runs_them_and_lists_their_metadata(tmp_path: Path) -> None:
    flowloom_bin = Path(sys.executable).parent / "flowloom"
    document = workflow(
        heavy_node("s", "sandbox.exec", {"command": ["sh", "-c", "echo $N"]}, n=7),
        heavy_node("a", "api.call", {"script": "print('[1, 2]')"}),
    )
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        [flowloom_bin, "run", path, "--json", "--no-store"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]["reports"]
    assert report["s"]["snapshots"][-1]["outputs"]["output"] == 7
    assert report["a"]["snapshots"][-1]["outputs"]["output"] == [1, 2]
    listed = subprocess.run([flowloom_bin, "nodes", "--json"], capture_output=True, text=True, check=True)
    types = {entry["type"]: entry for entry in json.loads(listed.stdout)}
    wanted = {
        "sandbox.exec": ("sandbox", {"image", "command", "env", "workdir", "timeout", "memory_mb", "vcpus"}),
        "zypi.exec": ("zypi", {"url", "image", "command", "session_id", "env", "workdir", "timeout"}),
        "zypi.session_create": ("zypi", {"url", "image", "agent_id", "vcpus", "memory_mb"}),
        "api.call": (
            "api",
            {"script", "packages", "env", "timeout", "memory_mb", "name", "zypi_url", "image"},
        ),
        "browser.render": ("browser", {"url", "html", "mode", "wait_ms", "memory_mb", "timeout", "zypi_url"}),
        "docker.run": ("docker", {"image", "command", "entrypoint", "stdin_mode", "io_mode", "auto_pull"}),
    }
    for node_type, (category, keys) in wanted.items():
        entry = types[node_type]
        assert entry["category"] == category and entry["description"]
        assert keys <= {key["name"] for key in entry["config"]}
    assert (
        next(key for key in types["sandbox.exec"]["config"] if key["name"] == "command")["required"] is True
    )
