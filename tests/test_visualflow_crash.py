"""Crash tests of VisualFlow runs, on SQLite and PostgreSQL: ``kill -9`` of a host while its run waits for a
person, and of a ``flowloom runs resume`` while the answered run is mid-way through a 1,000-pass ``for`` loop;
each time a new process goes on from the store. Nothing is lost (the answer, the running total, every pass)
and nothing is recorded twice (one success per node and scope in the run's ledger)."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from _postgres import PG_TIMEOUT, create_database
from _postgres import postgres_server as postgres_server  # the session fixture ``postgres_url``
from flowloom import Status
from flowloom.ir import WaitStatus
from flowloom.stores import SqlStore

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]
FLOWLOOM = Path(sys.executable).parent / "flowloom"
PASSES = 1000
TOTAL = PASSES * (PASSES - 1) // 2  # the loop adds i = 0 .. PASSES-1
EXEC = "execution"

# A host that keeps its engine (and process) up after its run parked on a wait, as a server does.
HOLDING_HOST = """
import json, sys
import anyio
from flowloom import Engine

async def main(url: str, path: str, passes: str) -> None:
    async with Engine(store=url) as engine:
        run = engine.start(path, {"n": int(passes)})
        await run.join()
        print(json.dumps({"run_id": run.id, "status": str(run.status)}), flush=True)
        await anyio.sleep(3600)

anyio.run(main, *sys.argv[1:])
"""


def pin(pin_id: str, kind: str = "any") -> dict[str, str]:
    return {"id": pin_id, "label": pin_id, "type": kind}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> dict[str, Any]:
    data = {"nodeType": node_type, "label": node_id, "inputs": inputs, "outputs": outputs, **data}
    return {"id": node_id, "type": node_type, "data": data}


def edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, str]:
    return {"source": source, "sourceHandle": source_handle, "target": target, "targetHandle": target_handle}


def set_var(node_id: str, **defaults: Any) -> dict[str, Any]:
    return node(
        node_id,
        "set_var",
        [pin("exec-in", EXEC), pin("name", "string"), pin("value")],
        [pin("exec-out", EXEC), pin("value")],
        pinDefaults=defaults,
    )


def get_var(node_id: str, name: str) -> dict[str, Any]:
    return node(node_id, "get_var", [pin("name", "string")], [pin("value")], pinDefaults={"name": name})


def asking_sum() -> dict[str, Any]:
    """total = 0; ask "go?"; for i in 0..n-1: total = total + i; end with total and the answer."""
    ask_pins = [pin("exec-in", EXEC), pin("prompt", "string"), pin("choices", "array")]
    for_pins = [pin("exec-in", EXEC), pin("start", "number"), pin("end", "number"), pin("step", "number")]
    return {
        "id": "asking-sum",
        "entryNode": "start",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("n", "number")]),
            set_var("init", name="total", value=0),
            node(
                "ask",
                "ask_user",
                ask_pins,
                [pin("exec-out", EXEC), pin("response", "string")],
                pinDefaults={"prompt": "go?"},
            ),
            node(
                "each",
                "for",
                for_pins,
                [pin("loop", EXEC), pin("done", EXEC), pin("i", "number"), pin("index", "number")],
                pinDefaults={"start": 0, "step": 1},
            ),
            get_var("total", "total"),
            node("plus", "add", [pin("a", "number"), pin("b", "number")], [pin("result", "number")]),
            set_var("bump", name="total"),
            get_var("final", "total"),
            node(
                "end",
                "on_flow_end",
                [pin("exec-in", EXEC), pin("total", "number"), pin("answer", "string")],
                [],
            ),
        ],
        "edges": [
            edge("start", "exec-out", "init", "exec-in"),
            edge("init", "exec-out", "ask", "exec-in"),
            edge("ask", "exec-out", "each", "exec-in"),
            edge("start", "n", "each", "end"),
            edge("each", "loop", "bump", "exec-in"),
            edge("total", "value", "plus", "a"),
            edge("each", "i", "plus", "b"),
            edge("plus", "result", "bump", "value"),
            edge("each", "done", "end", "exec-in"),
            edge("final", "value", "end", "total"),
            edge("ask", "response", "end", "answer"),
        ],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=PG_TIMEOUT)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        yield create_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "asking-sum.json"
    path.write_text(json.dumps(asking_sum()))
    return path


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(FLOWLOOM), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], code: int) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == code, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


async def records(url: str, run_id: str, node_id: str) -> int:
    async with SqlStore(url) as store:
        return sum(1 for row in await store.get_nodes(run_id) if row.node_id == node_id)


async def assert_recorded_once(url: str, run_id: str) -> None:
    """Every pass of the loop has its record, and the ledger holds one success per node and scope."""
    async with SqlStore(url) as store:
        nodes = await store.get_nodes(run_id)
        events = await store.get_events(run_id)
        run = await store.get_run(run_id)
    assert run is not None and run.status is Status.SUCCEEDED and run.owner is None
    bumps = {row.scope for row in nodes if row.node_id == "bump"}
    assert len(bumps) == PASSES and all(row.status is Status.SUCCEEDED for row in nodes)
    successes = collections.Counter(
        (event.data["node_id"], tuple(event.data["scope"]))
        for event in events
        if event.type == "NodeSucceeded"
    )
    assert successes and max(successes.values()) == 1, successes.most_common(3)
    assert len(successes) == len(nodes)
    assert sum(1 for event in events if event.type == "RunFinished") >= 1


def holding_host(store_url: str, flow_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDING_HOST, store_url, str(flow_file), str(PASSES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_host_killed_while_its_run_waits_loses_nothing(store_url: str, flow_file: Path) -> None:
    host = holding_host(store_url, flow_file)
    assert host.stdout is not None
    started = json.loads(host.stdout.readline() or "{}")
    assert started.get("status") == "waiting", host.communicate() if host.poll() is not None else started
    kill(host)  # the host dies while the run waits for its answer

    run_id = started["run_id"]
    async with SqlStore(store_url) as store:
        row = await store.get_run(run_id)
        waits = await store.get_waits(run_id)
    assert row is not None and row.status is Status.WAITING
    assert [(w.node_id, w.status) for w in waits] == [("ask", WaitStatus.OPEN)]

    payload = json.dumps({"response": "yes"})
    done = finish(cli("runs", "resume", run_id, "--payload", payload, "--json", "--store", store_url), 0)
    assert done["status"] == "succeeded"
    assert done["outputs"] == {"total": TOTAL, "answer": "yes", "success": True}
    await assert_recorded_once(store_url, run_id)


async def test_a_resume_killed_mid_loop_goes_on_from_the_store(store_url: str, flow_file: Path) -> None:
    inputs = flow_file.with_name("inputs.json")
    inputs.write_text(json.dumps({"n": PASSES}))
    waiting = finish(cli("run", str(flow_file), "--inputs", f"@{inputs}", "--json", "--store", store_url), 3)
    run_id, key = waiting["run_id"], waiting["waiting"]["key"]

    payload = json.dumps({"response": "yes"})
    resuming = cli(
        "runs", "resume", run_id, "--payload", payload, "--key", key, "--json", "--store", store_url
    )
    deadline = time.monotonic() + 240
    while await records(store_url, run_id, "bump") < 20:  # answered, and well into the loop
        assert resuming.poll() is None, resuming.communicate()
        assert time.monotonic() < deadline, "the resumed run made no progress"
        await anyio.sleep(0.02)
    kill(resuming)

    passes_before = await records(store_url, run_id, "bump")
    assert 0 < passes_before < PASSES  # killed mid-way
    async with SqlStore(store_url) as store:
        row = await store.get_run(run_id)
        waits = await store.get_waits(run_id)
    assert row is not None and row.status is Status.PROCESSING
    assert [w.status for w in waits] == [WaitStatus.ANSWERED]  # the answer is kept with the wait

    done = finish(cli("runs", "resume", run_id, "--json", "--store", store_url), 0)
    assert done["status"] == "succeeded"
    assert done["outputs"] == {"total": TOTAL, "answer": "yes", "success": True}
    await assert_recorded_once(store_url, run_id)
