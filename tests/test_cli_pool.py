"""``CliPool`` (``tests/_cli_pool.py``), the suite's long-lived CLI workers, and ``_cli_client.py``: each call
sees only its own argv, directory and environment, its output is captured at the file-descriptor level, its
exit code is reported, and a hung call costs its worker, not the pool."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli_pool import KILLED, CliPool, client_command, serve_socket
from _flowengine_cases import flowloom_command


def _shell_workflow(script: str) -> str:
    def text(value: str) -> dict[str, str]:
        return {"type": "String", "value": value}

    config = {"command": text("sh"), "args": {"type": "Array", "value": [text("-c"), text(script)]}}
    return json.dumps(
        {"nodes": [{"id": "n1", "node_type": "shell.exec", "config": config}], "connections": []}
    )


@pytest.fixture(scope="module")
def pool() -> Iterator[CliPool]:
    with CliPool("flowloom.cli:main", workers=1) as workers:
        yield workers


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "FLOWLOOM_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}", **extra}


def test_each_call_sees_its_own_directory_and_environment(pool: CliPool, tmp_path: Path) -> None:
    outputs = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "wf.json").write_text(_shell_workflow('echo "$POOL_PROBE:$(pwd)"'))
        done = pool.run(
            ["run", "wf.json", "--json"], cwd=folder, env=_env(tmp_path, POOL_PROBE=name), timeout_s=60
        )
        assert done.exit_code == 0, done.stderr
        outputs.append(json.loads(done.stdout)["outputs"]["n1"]["stdout"])
    assert outputs == [f"one:{tmp_path / 'one'}", f"two:{tmp_path / 'two'}"]
    without = pool.run(["run", "wf.json", "--json"], cwd=tmp_path / "one", env=_env(tmp_path), timeout_s=60)
    assert json.loads(without.stdout)["outputs"]["n1"]["stdout"] == f":{tmp_path / 'one'}"  # not left over


def test_exit_codes_and_stderr_are_the_calls(pool: CliPool, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(
        '{"nodes": [{"id": "x", "node_type": "no.such.type"}], "connections": []}'
    )
    refused = pool.run(["validate", "bad.json"], cwd=tmp_path, env=_env(tmp_path), timeout_s=60)
    assert refused.exit_code == 2
    assert "no.such.type" in refused.stderr + refused.stdout
    (tmp_path / "fails.json").write_text(_shell_workflow("echo oops >&2; exit 3"))
    failed = pool.run(["run", "fails.json", "--json"], cwd=tmp_path, env=_env(tmp_path), timeout_s=60)
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["status"] == "failed"


def test_a_hung_call_is_killed_and_the_next_gets_a_fresh_worker(tmp_path: Path) -> None:
    (tmp_path / "hangs.json").write_text(_shell_workflow("sleep 60"))
    with CliPool("flowloom.cli:main", workers=1) as pool:
        hung = pool.run(["run", "hangs.json", "--json"], cwd=tmp_path, env=_env(tmp_path), timeout_s=3)
        assert hung.exit_code == KILLED
        listed = pool.run(["nodes", "--json"], cwd=tmp_path, env=_env(tmp_path), timeout_s=60)
    assert listed.exit_code == 0, listed.stderr
    assert "shell.exec" in {entry["type"] for entry in json.loads(listed.stdout)}


def test_the_client_stands_in_for_the_command(pool: CliPool, tmp_path: Path) -> None:
    (tmp_path / "wf.json").write_text(_shell_workflow('echo "$POOL_PROBE"'))
    with serve_socket(pool, timeout_s=60) as path:
        done = subprocess.run(
            [*client_command(path, flowloom_command()[0]), "run", "wf.json", "--json"],
            cwd=tmp_path,
            env=_env(tmp_path, POOL_PROBE="through the client"),
            capture_output=True,
            text=True,
            check=False,
        )
        refused = subprocess.run(
            [*client_command(path, flowloom_command()[0]), "validate", "missing.json"],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["n1"]["stdout"] == "through the client"
    assert refused.returncode == 2
    assert "missing.json" in refused.stderr
