"""VisualFlow subflows as child runs driven by the engine: a child is a run of its own, recorded and linked
to its parent; its failure fails the parent; a child that waits makes the root report its wait, and an
answer to the root reaches it from any engine on the store; a child carried on by itself answers its
parked parent; flows come from the document's library or from the engine's ``SubflowSource``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

import flowloom
from flowloom.engine import Services
from flowloom.formats.visualflow import with_subflows
from flowloom.ir import Status
from flowloom.stores import SqlStore
from test_visualflow import EXEC, edge, node, pin

pytestmark = pytest.mark.anyio
TESTS = Path(__file__).resolve().parent


def parent(child_id: str) -> dict[str, Any]:
    """start(x) → subflow ``child_id`` (x) → end(y = the child's y)."""
    return {
        "id": "parent",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("x")]),
            node(
                "sf",
                "subflow",
                [pin("exec-in", EXEC), pin("x")],
                [pin("exec-out", EXEC), pin("output"), pin("y")],
                subflowId=child_id,
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("y")], []),
        ],
        "edges": [
            edge("start", "exec-out", "sf", "exec-in"),
            edge("sf", "exec-out", "end", "exec-in"),
            edge("start", "x", "sf", "x"),
            edge("sf", "y", "end", "y"),
        ],
    }


def tripler() -> dict[str, Any]:
    return {
        "id": "tripler",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("x")]),
            node("mul", "multiply", [pin("a"), pin("b")], [pin("result")], pinDefaults={"b": 3}),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("y")], []),
        ],
        "edges": [
            edge("start", "exec-out", "end", "exec-in"),
            edge("start", "x", "mul", "a"),
            edge("mul", "result", "end", "y"),
        ],
    }


def breaker() -> dict[str, Any]:
    return {
        "id": "breaker",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("x")]),
            node(
                "code",
                "code",
                [pin("exec-in", EXEC), pin("x")],
                [pin("exec-out", EXEC)],
                codeBody="return 1 / 0",
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("y")], []),
        ],
        "edges": [edge("start", "exec-out", "code", "exec-in"), edge("code", "exec-out", "end", "exec-in")],
    }


def asker() -> dict[str, Any]:
    return {
        "id": "asker",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("x")]),
            node(
                "ask",
                "ask_user",
                [pin("exec-in", EXEC), pin("prompt")],
                [pin("exec-out", EXEC), pin("response")],
                pinDefaults={"prompt": "How many?"},
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("y")], []),
        ],
        "edges": [
            edge("start", "exec-out", "ask", "exec-in"),
            edge("ask", "exec-out", "end", "exec-in"),
            edge("ask", "response", "end", "y"),
        ],
    }


class Library:
    def __init__(self, *flows: dict[str, Any]) -> None:
        self.flows = {flow["id"]: flow for flow in flows}

    def subflow(self, flow_id: str) -> Mapping[str, Any] | None:
        return self.flows.get(flow_id)


async def children_of(store: flowloom.ir.RunStore, parent_id: str) -> list[flowloom.ir.RunRow]:
    return [row for row in await store.list_runs(limit=100) if row.parent_run_id == parent_id]


async def test_a_child_run_is_recorded_and_linked_to_its_parent(tmp_path: Path) -> None:
    document = with_subflows(parent("tripler"), Library(tripler()))
    async with flowloom.Engine(store=f"sqlite:///{tmp_path / 'runs.db'}") as engine:
        run = await engine.run(document, {"x": 2})
        assert await run.wait() == {"y": 6.0, "success": True}
        assert engine.store is not None
        [child] = await children_of(engine.store, run.id)
    assert child.status is Status.SUCCEEDED
    assert child.outputs == {"y": 6.0, "success": True}
    assert child.inputs == {"x": 2}


async def test_a_failed_child_fails_its_parent(tmp_path: Path) -> None:
    document = with_subflows(parent("breaker"), Library(breaker()))
    async with flowloom.Engine(store=f"sqlite:///{tmp_path / 'runs.db'}") as engine:
        run = await engine.run(document, {"x": 2})
        assert engine.store is not None
        [child] = await children_of(engine.store, run.id)
    assert run.status is Status.FAILED
    assert child.status is Status.FAILED and child.error is not None
    assert run.error == f"Subworkflow 'breaker' failed: {child.error}"
    assert "division by zero" in run.error


async def test_the_engines_subflow_source_serves_flows_the_document_lacks() -> None:
    async with flowloom.Engine(services=Services(subflows=Library(tripler()))) as engine:
        run = await engine.run(parent("tripler"), {"x": 5})
    assert await run.wait() == {"y": 15.0, "success": True}


async def test_a_missing_subflow_fails_the_run_naming_it() -> None:
    async with flowloom.Engine() as engine:
        run = await engine.run(parent("nowhere"), {"x": 5})
    assert run.status is Status.FAILED
    assert run.error is not None and "Subworkflow 'nowhere' not found" in run.error


async def test_a_waiting_child_is_answered_through_its_root_from_another_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    document = with_subflows(parent("asker"), Library(asker()))
    async with flowloom.Engine(store=url) as engine:
        run = await engine.run(document, {"x": 1})
        assert run.status is Status.WAITING
        assert [(w.reason, w.prompt) for w in run.waits] == [("user", "How many?")]
        key = run.waits[0].key
    async with flowloom.Engine(store=url) as engine:
        resumed = await engine.resume(run.id, payload={"response": "seven"}, key=key)
        await resumed.join()
        assert engine.store is not None
        [child] = await children_of(engine.store, run.id)
    assert await resumed.wait() == {"y": "seven", "success": True}
    assert child.status is Status.SUCCEEDED and child.outputs == {"y": "seven", "success": True}


async def test_a_child_answered_on_its_own_resumes_its_parked_parent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    document = with_subflows(parent("asker"), Library(asker()))
    async with flowloom.Engine(store=url) as engine:
        run = await engine.run(document, {"x": 1})
        assert engine.store is not None
        [child] = await children_of(engine.store, run.id)
    async with flowloom.Engine(store=url) as engine:
        answered = await engine.resume(child.id, payload={"response": "direct"})
        await answered.join()
        assert answered.status is Status.SUCCEEDED
        assert engine.store is not None
        for _ in range(1000):  # the parent is resumed in the background once the child ended
            row = await engine.store.get_run(run.id)
            assert row is not None
            if row.status.terminated:
                break
            await anyio.sleep(0.01)
    assert row.status is Status.SUCCEEDED, row.error
    assert row.outputs == {"y": "direct", "success": True}


def spinner() -> dict[str, Any]:
    flow = breaker()
    flow["id"] = "spinner"
    flow["nodes"][1]["data"]["codeBody"] = "while True:\n    x = x + 1"
    flow["edges"].append(edge("start", "x", "code", "x"))
    flow["nodes"][1]["data"]["inputs"].append(pin("x"))
    return flow


async def test_canceling_a_parent_cancels_its_running_child(tmp_path: Path) -> None:
    document = with_subflows(parent("spinner"), Library(spinner()))
    async with flowloom.Engine(store=f"sqlite:///{tmp_path / 'runs.db'}") as engine:
        run = engine.start(document, {"x": 1})
        assert engine.store is not None
        children: list[flowloom.ir.RunRow] = []
        for _ in range(1000):  # until the child run is recorded (it then spins in the sandbox)
            children = await children_of(engine.store, run.id)
            if children:
                break
            await anyio.sleep(0.01)
        [child] = children
        run.cancel()
        await run.join()
        child_run = engine.active_run(child.id)
        if child_run is not None:
            await child_run.join()
        row = await engine.store.get_run(child.id)
    assert run.status is Status.CANCELED
    assert row is not None and row.status is Status.CANCELED


async def test_a_parent_and_child_killed_mid_child_finish_in_a_new_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    iterations = 300
    first = _worker("start", url, "crashy-parent", str(iterations))
    child_id = None
    async with SqlStore(url) as store:
        for _ in range(6000):  # until the child has counted a little
            assert first.poll() is None, first.communicate()[1]
            children = await children_of(store, "crashy-parent")
            if children and len(await store.get_nodes(children[0].id)) >= 20:
                child_id = children[0].id
                break
            await anyio.sleep(0.01)
    assert child_id is not None, "the child made no progress"
    first.send_signal(signal.SIGKILL)
    first.communicate()
    async with SqlStore(url) as store:
        killed = [await store.get_run(run_id) for run_id in ("crashy-parent", child_id)]
    assert [row.status for row in killed if row is not None] == [Status.PROCESSING, Status.PROCESSING]

    second = _worker("orphans", url)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    async with SqlStore(url) as store:
        row = await store.get_run("crashy-parent")
        children = await children_of(store, "crashy-parent")
        increments = [n for n in await store.get_nodes(child_id) if n.node_id == "inc"]
    assert row is not None and row.status is Status.SUCCEEDED, row and row.error
    assert row.outputs == {"count": float(iterations), "success": True}
    assert [child.id for child in children] == [child_id]  # the same child, carried on
    assert children[0].status is Status.SUCCEEDED
    assert len(increments) == iterations  # each increment recorded once


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.Popen(
        [sys.executable, str(TESTS / "_subflow_crash_worker.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
