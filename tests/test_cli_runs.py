"""Run history from the command line: ``run`` records into the store; ``runs list|show|cancel|resume`` read
and act on it across processes; bad stores are one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from _postgres import PG_TIMEOUT, create_database, postgres_server  # noqa: F401
from _workflows import chain, double_x, end, js, ref, start
from flowloom import Status
from flowloom.stores import SqlStore
from test_cli import FLOWLOOM, assert_one_line_error, flowloom, write

SPIN_MS = 200
NODES = 12


def slow_chain(n: int) -> dict[str, Any]:
    """start(x) -> n JavaScript nodes, each busy for SPIN_MS and adding one -> end(y = x + n)."""
    nodes = [start(x="number")]
    previous, key = "start_0", "x"
    for i in range(n):
        script = (
            "async function main({ params }) { const t = Date.now(); "
            f"while (Date.now() - t < {SPIN_MS}) {{}} return {{ x: params.x + 1 }}; }}"
        )
        nodes.append(js(f"spin_{i}", script, {"x": ref(previous, key)}, x="number"))
        previous, key = f"spin_{i}", "x"
    nodes.append(end(y=ref(previous, "x")))
    return chain(*nodes)


def runs_json(*args: str | Path) -> Any:
    result = flowloom("runs", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_until(predicate: Any, what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_in_background(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(FLOWLOOM), "run", str(path), "--inputs", '{"x": 0}', "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def processing_run(succeeded_at_least: int) -> str | None:
    """The id of the run in progress in the test's store once that many of its spin nodes succeeded
    (read straight from the store: a CLI process per poll would be too slow to catch it)."""

    async def read() -> str | None:
        async with SqlStore(os.environ["FLOWLOOM_DATABASE_URL"]) as store:
            runs = await store.list_runs(Status.PROCESSING)
            if not runs:
                return None
            nodes = await store.get_nodes(runs[0].id)
        done = [n for n in nodes if n.status is Status.SUCCEEDED and n.node_id.startswith("spin_")]
        return runs[0].id if len(done) >= succeeded_at_least else None

    return anyio.run(read)


def test_runs_are_listed_and_shown(tmp_path: Path) -> None:
    path = write(tmp_path, double_x())
    first = flowloom("run", path, "--inputs", '{"x": 2}', "--json")
    second = flowloom("run", path, "--inputs", '{"x": 5}', "--json")
    assert first.returncode == second.returncode == 0
    ids = [json.loads(r.stdout)["report"]["id"] for r in (second, first)]

    listed = runs_json("list")
    assert [run["id"] for run in listed[:2]] == ids  # newest first
    assert {"id", "status", "workflow", "created_at"} <= set(listed[0])
    assert listed[0]["status"] == "succeeded" and listed[0]["workflow"] == listed[1]["workflow"]
    assert [run["id"] for run in runs_json("list", "--limit", "1")] == ids[:1]

    shown = runs_json("show", ids[0])
    assert shown["run"]["id"] == ids[0]
    assert shown["report"]["outputs"] == {"y": 10}
    assert shown["report"]["workflowStatus"]["status"] == "succeeded"
    assert {n["node_id"]: n["outputs"] for n in shown["nodes"]}["code_0"] == {"y": 10}

    table = flowloom("runs", "show", ids[0])
    assert table.returncode == 0 and "code_0" in table.stdout and "succeeded" in table.stdout
    assert ids[0] in flowloom("runs", "list").stdout


def test_a_killed_cli_run_is_resumed_from_the_cli(tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(NODES))
    process = start_in_background(path)
    run_id = wait_until(lambda: processing_run(2), "two nodes to succeed")
    process.kill()
    process.communicate()
    before = {n["node_id"]: n for n in runs_json("show", run_id)["nodes"] if n["status"] == "succeeded"}

    resumed = flowloom("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(resumed.stdout)
    assert payload["status"] == "succeeded" and payload["outputs"] == {"y": NODES}
    assert payload["report"]["id"] == run_id
    after = {n["node_id"]: n for n in runs_json("show", run_id)["nodes"]}
    for node_id, node in before.items():  # not run again: the record is the one from before the kill
        assert after[node_id]["started_at"] == node["started_at"]
    assert [run["id"] for run in runs_json("list")].count(run_id) == 1

    again = flowloom("runs", "resume", run_id)
    assert_one_line_error(again, "already succeeded")


def test_a_run_in_another_process_is_canceled_from_the_cli(tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(40))
    process = start_in_background(path)
    run_id = wait_until(lambda: processing_run(1), "the run to start")

    canceled = flowloom("runs", "cancel", run_id)
    assert canceled.returncode == 0, canceled.stderr
    out, _err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert json.loads(out)["status"] == "canceled"
    assert runs_json("show", run_id)["run"]["status"] == "canceled"

    twice = flowloom("runs", "cancel", run_id)
    assert twice.returncode == 1 and "already ended: canceled" in twice.stdout


def test_without_a_store_nothing_is_recorded(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'separate.db'}"
    path = write(tmp_path, double_x())
    assert flowloom("run", path, "--inputs", '{"x": 1}', "--no-store", "--store", store).returncode == 0
    assert runs_json("list", "--store", store) == []
    assert_one_line_error(flowloom("runs", "list", "--no-store"), "runs are kept in a store")


def test_unknown_runs_and_bad_stores_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(flowloom("runs", "show", "nope"), "no run 'nope'")
    assert_one_line_error(flowloom("runs", "resume", "nope"), "no run 'nope'")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database")
    path = write(tmp_path, double_x())
    result = flowloom("run", path, "--inputs", '{"x": 1}', "--store", f"sqlite:///{corrupt}")
    assert_one_line_error(result, "not a SQLite database", "left untouched")
    assert corrupt.read_bytes() == b"this is not a database"
    assert_one_line_error(
        flowloom("runs", "list", "--store", "postgresql+psycopg://nobody@127.0.0.1:1/none"),
        "cannot connect to PostgreSQL at 127.0.0.1:1/none",
    )
    assert_one_line_error(flowloom("runs", "list", "--store", "mysql://x/y"), "unsupported store URL")


@PG_TIMEOUT
def test_history_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = create_database(postgres_url)
    path = write(tmp_path, chain(start(x="number"), end(y=ref("start_0", "x"))))
    ran = flowloom("run", path, "--inputs", '{"x": 7}', "--json", "--store", store)
    assert ran.returncode == 0, ran.stderr
    listed = runs_json("list", "--store", store)
    assert [run["id"] for run in listed] == [json.loads(ran.stdout)["report"]["id"]]


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own default store (the subprocesses read the environment)."""
    monkeypatch.setenv("FLOWLOOM_DATABASE_URL", f"sqlite:///{tmp_path / 'history.db'}")
