"""Durable waits in one process, on every store: a node waits, the run parks (``waiting``, nothing of it in
memory), ``resume(payload=...)`` answers it; stale keys, several waits, loops, timed waits, every front
door (flowgram JSON, a plain ``ir.Workflow``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import flowloom
from _stores import every_store_url, open_store, postgres_server  # noqa: F401
from _waits import approval, ask_each, timer, two_waits
from flowloom import Engine, NodeContext, NodeResult, RunWaitingError, Status, Traits, Wait, WaitError
from flowloom.ir import Edge, Node, RunResumed, RunWaiting, WaitKeyRequired, Workflow
from flowloom.nodes import NodeRegistry
from flowloom.stores import MemoryStore, SqlStore

pytestmark = pytest.mark.anyio


async def test_a_wait_parks_the_run_and_an_answer_completes_it(store: MemoryStore | SqlStore) -> None:
    engine = Engine(store=store)
    events: list[Any] = []
    engine.bus.add_listener(events.append)
    run = engine.start(approval(), {"who": "Ada"})
    with pytest.raises(RunWaitingError, match="is waiting \\(keys: 'approve'\\)"):
        await run.wait()  # wait() wants outputs; join() only waits
    assert run.outputs == {}
    assert run.status is Status.WAITING and run.done
    [waiting] = run.waits
    assert (waiting.key, waiting.prompt, waiting.choices) == ("approve", "Approve Ada?", ["yes", "no"])
    assert engine._active == {}  # nothing of the run stays in the engine
    row = await store.get_run(run.id)
    assert row is not None and (row.status, row.owner) == (Status.WAITING, None)
    assert [(n.node_id, n.status) for n in await store.get_nodes(run.id)] == [
        ("approve", Status.WAITING),
        ("start_0", Status.SUCCEEDED),
    ]
    assert [type(e).__name__ for e in events][-1] == "RunWaiting"
    assert run.report().workflow_status.terminated is False

    resumed = await Engine(store=store).resume(run.id, payload={"approved": True, "note": "ok"})
    assert await resumed.wait() == {"approved": True, "note": "ok"}
    assert resumed.status is Status.SUCCEEDED and resumed.id == run.id
    [answered] = await store.get_waits(run.id)
    assert (answered.status, answered.payload) == ("answered", {"approved": True, "note": "ok"})
    ledger = [e.type for e in await store.get_events(run.id)]
    assert ledger.count("RunWaiting") == 1 and ledger.count("RunResumed") == 1
    assert ledger.index("RunWaiting") < ledger.index("RunResumed") < ledger.index("RunFinished")
    assert [e.seq for e in await store.get_events(run.id)] == list(range(1, len(ledger) + 1))
    with pytest.raises(WaitError, match="not waiting: it has ended \\(succeeded\\)"):
        await engine.resume(run.id, payload={"approved": False})


async def test_stale_and_unknown_keys_and_a_resume_without_payload_are_refused(
    store: MemoryStore | SqlStore,
) -> None:
    engine = Engine(store=store)
    run = await engine.run(approval(), {"who": "Bob"})
    with pytest.raises(
        WaitError, match="waiting for an answer \\(keys: 'approve'\\): resume it with a payload"
    ):
        await engine.resume(run.id)
    with pytest.raises(WaitError, match="no wait with key 'other' \\(open: 'approve'\\)"):
        await engine.resume(run.id, payload=1, key="other")
    row = await store.get_run(run.id)
    assert row is not None and row.status is Status.WAITING  # a refused answer changes nothing
    done = await engine.resume(run.id, payload={"approved": False, "note": "no"}, key="approve")
    await done.join()
    assert done.outputs == {"approved": False, "note": "no"}


async def test_other_branches_go_on_and_each_wait_is_answered_in_turn(store: MemoryStore | SqlStore) -> None:
    engine = Engine(store=store)
    run = await engine.run(two_waits())
    assert run.status is Status.WAITING and sorted(w.key for w in run.waits) == ["a", "b"]
    with pytest.raises(WaitKeyRequired, match="several keys"):
        await engine.resume(run.id, payload={"approved": True})
    first = await engine.resume(run.id, payload={"approved": True}, key="b")
    await first.join()
    assert first.status is Status.WAITING and [w.key for w in first.waits] == ["a"]
    with pytest.raises(WaitError, match="stale key 'b'"):
        await engine.resume(run.id, payload={"approved": False}, key="b")
    second = await engine.resume(run.id, payload={"approved": False})
    await second.wait()
    assert second.status is Status.SUCCEEDED and second.outputs == {"a": False, "b": True}


async def test_a_wait_in_a_loop_keys_each_iteration(store: MemoryStore | SqlStore) -> None:
    workflow = ask_each()
    engine = Engine(store=store)
    run = await engine.run(workflow, {"items": ["x", "y"]})
    assert run.status is Status.WAITING, run.error
    assert [(w.key, w.prompt) for w in run.waits] == [("ask[0]", "item x?")]
    run = await engine.resume(run.id, payload="first")
    await run.join()
    assert [(w.key, w.prompt) for w in run.waits] == [("ask[1]", "item y?")]
    run = await engine.resume(run.id, payload="second")
    await run.join()
    assert run.status is Status.SUCCEEDED and run.outputs == {"answers": ["first", "second"]}


async def test_a_due_timed_wait_answers_itself(store: MemoryStore | SqlStore) -> None:
    engine = Engine(store=store)
    run = await engine.run(timer(0.0))
    [timed] = run.waits
    assert timed.reason == "time" and timed.until is not None and timed.until <= time.time()
    [resumed] = await engine.resume_due()
    await resumed.wait()
    assert resumed.status is Status.SUCCEEDED and resumed.outputs == {"timedOut": True}
    assert await engine.resume_due() == []
    later = await engine.run(timer(3600.0))
    assert await engine.resume_due() == [] and later.status is Status.WAITING


class AskExecutor:
    """A custom node type that waits (a plain ``ir.Workflow`` front door): asks once, answers ``n + 1``."""

    type: ClassVar[str] = "ask"
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True)

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        if "n" in ctx.answers:
            return NodeResult(
                outputs={"n": ctx.answers["n"] + 1}, workflow_outputs={"n": ctx.answers["n"] + 1}
            )
        return Wait(key="n", prompt="a number?", details={"why": "test"})


async def test_a_custom_executor_in_an_ir_workflow_waits(store: MemoryStore | SqlStore) -> None:
    registry = NodeRegistry.default()
    registry.register(AskExecutor())
    engine = Engine(registry=registry, store=store)
    workflow = Workflow(
        nodes=[Node(id="q", type="ask"), Node(id="r", type="ask")], edges=[Edge(source="q", target="r")]
    )
    seen: list[Any] = []
    engine.bus.add_listener(seen.append)
    run = await engine.run(workflow)
    assert [(w.key, w.details) for w in run.waits] == [("n", {"why": "test"})]
    resumed = await engine.resume(run.id, payload=41)
    await resumed.join()
    # "r" waits too, with the same key in another node: a wait of its own
    assert resumed.status is Status.WAITING, resumed.error
    assert [(w.node_id, w.key) for w in resumed.waits] == [("r", "n")]
    assert any(isinstance(e, RunResumed) and e.payload == 41 and e.node_id == "q" for e in seen)
    assert sum(isinstance(e, RunWaiting) for e in seen) == 2


async def test_without_a_store_a_wait_fails_its_node_clearly() -> None:
    run = await Engine().run(approval(), {"who": "x"})
    assert run.status is Status.FAILED
    assert run.error == (
        'Node "approve" waits (input), but the run is not recorded: a waiting run is resumed from its '
        "store, so give the engine a store"
    )


async def test_flowloom_run_raises_for_a_waiting_run(tmp_path: Path) -> None:
    engine = Engine(store=f"sqlite:///{tmp_path / 'runs.db'}")
    flowloom.set_default_engine(engine)
    try:
        with pytest.raises(RunWaitingError, match="is waiting \\(keys: 'approve'\\)") as caught:
            await flowloom.run(approval(), {"who": "y"})
        assert [w.key for w in caught.value.waits] == ["approve"]
        resumed = await engine.resume(caught.value.run_id, payload={"approved": True})
        assert await resumed.wait() == {"approved": True}
    finally:
        flowloom.set_default_engine(None)
        await engine.aclose()


async def test_bad_wait_node_data_is_a_clear_node_error(store: MemoryStore | SqlStore) -> None:
    workflow = approval()
    workflow["nodes"][1]["data"]["durationS"] = "soon"
    run = await Engine(store=store).run(workflow, {"who": "z"})
    assert run.status is Status.FAILED
    assert run.error == 'Wait node "approve": "durationS" must be a number of seconds >= 0, got \'soon\''


async def test_a_waiting_run_is_no_orphan_and_can_be_canceled(store: MemoryStore | SqlStore) -> None:
    engine = Engine(store=store)
    run = await engine.run(approval(), {"who": "Cy"})
    assert run.status is Status.WAITING
    assert await Engine(store=store).resume_orphans() == []
    assert await engine.cancel_recorded(run.id) is Status.WAITING
    row = await store.get_run(run.id)
    assert row is not None and row.status is Status.CANCELED
    with pytest.raises(WaitError, match="not waiting: it has ended \\(canceled\\)"):
        await engine.resume(run.id, payload={"approved": True})
