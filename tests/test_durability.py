"""Runs recorded in a store: what is written, resume (in place and from nodes), leases, the result cache."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import anyio
import pytest

from _durable import CountExecutor, count_chain, count_loop, diamond
from _stores import every_store_url, open_store, postgres_server  # noqa: F401
from _workflows import edge, end, ref, start
from flowloom import Engine, FlowloomError, InvalidWorkflowError, RunOwnedError, Status
from flowloom.ir import CacheEntry, NodeSucceeded, RunRow
from flowloom.nodes import NodeRegistry
from flowloom.stores import MemoryStore, SqlStore

pytestmark = pytest.mark.anyio


def engine_with(store: MemoryStore | SqlStore, counter: CountExecutor, **options: object) -> Engine:
    registry = NodeRegistry.default()
    registry.register(counter)
    return Engine(registry=registry, store=store, **options)  # type: ignore[arg-type]


async def test_a_run_is_recorded_whole(store: MemoryStore | SqlStore) -> None:
    counter = CountExecutor()
    engine = engine_with(store, counter)
    run = await engine.run(count_chain(3), {"x": 1})
    assert run.status is Status.SUCCEEDED and run.outputs == {"y": 4}

    row = await store.get_run(run.id)
    assert row is not None
    assert (row.status, row.inputs, row.outputs, row.error) == (Status.SUCCEEDED, {"x": 1}, {"y": 4}, None)
    assert row.started_at is not None and row.ended_at is not None and row.created_at <= row.ended_at
    assert row.owner is None  # the lease is released at the end
    assert await store.get_workflow(row.workflow_hash) is not None

    nodes = {n.node_id: n for n in await store.get_nodes(run.id)}
    assert set(nodes) == {"start_0", "c1", "c2", "c3", "end_0"}
    assert all(n.status is Status.SUCCEEDED for n in nodes.values())
    assert (nodes["c2"].inputs, nodes["c2"].outputs) == ({"x": 2}, {"value": 3})

    events = await store.get_events(run.id)
    kinds = [e.type for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("NodeStarted") == kinds.count("NodeSucceeded") == 5
    assert [e.seq for e in events] == list(range(1, len(events) + 1))

    stored = await engine.stored_report(run.id)
    assert stored is not None
    assert stored.workflow_status.status is Status.SUCCEEDED
    assert stored.outputs == {"y": 4}
    assert stored.reports["c3"].snapshots[0].outputs == {"value": 4}


async def test_batched_durability_records_everything_by_the_end(store: MemoryStore | SqlStore) -> None:
    engine = engine_with(store, CountExecutor(), durability="batched")
    run = await engine.run(count_chain(20), {"x": 0})
    assert run.outputs == {"y": 20}
    nodes = await store.get_nodes(run.id)
    assert len(nodes) == 22 and {n.status for n in nodes} == {Status.SUCCEEDED}


async def test_a_node_still_running_at_a_commit_is_recorded_as_processing(
    store: MemoryStore | SqlStore,
) -> None:
    """A node's start is written with the next commit only if the node is still running then (most end
    first, and their finished record replaces it)."""
    counter = CountExecutor()
    counter.block.add("b")
    engine = engine_with(store, counter)
    workflow = diamond()
    c = next(node for node in workflow["nodes"] if node["id"] == "c")
    c["data"]["sleep_s"] = 0.1  # c ends while b waits, and its commit carries b's start
    run = engine.start(workflow, {"x": 0})
    await counter.blocked.wait()
    with anyio.fail_after(10):
        while "c" not in (nodes := {n.node_id: n for n in await store.get_nodes(run.id)}):  # noqa: ASYNC110 (polling the store)
            await anyio.sleep(0.01)
    assert nodes["c"].status is Status.SUCCEEDED
    assert nodes["b"].status is Status.PROCESSING and nodes["b"].started_at is not None
    assert (nodes["b"].ended_at, nodes["b"].outputs) == (None, None)
    counter.release.set()
    await run.join(10)
    finished = {n.node_id: n for n in await store.get_nodes(run.id)}
    assert {n.status for n in finished.values()} == {Status.SUCCEEDED}
    assert finished["b"].started_at == nodes["b"].started_at and finished["b"].outputs == {"value": 2}


async def test_a_failed_run_resumes_without_rerunning_what_succeeded(store: MemoryStore | SqlStore) -> None:
    counter = CountExecutor()
    counter.fail.add("d")
    engine = engine_with(store, counter)
    first = await engine.run(diamond(), {"x": 0})
    assert first.status is Status.FAILED and first.error == "d failed on purpose"
    failed = {n.node_id: n.status for n in await store.get_nodes(first.id)}
    assert failed["d"] is Status.FAILED and failed["b"] is Status.SUCCEEDED

    counter.fail.clear()
    resumed = await engine.resume(first.id)
    await resumed.join()
    assert resumed.id == first.id
    assert resumed.status is Status.SUCCEEDED and resumed.outputs == {"y": 3}
    assert [counter.ran(n) for n in "abcd"] == [1, 1, 1, 2]  # only d ran again
    row = await store.get_run(first.id)
    assert row is not None and (row.status, row.error, row.outputs) == (Status.SUCCEEDED, None, {"y": 3})
    assert {n.status for n in await store.get_nodes(first.id)} == {Status.SUCCEEDED}
    assert [r.id for r in await store.list_runs()] == [first.id]  # one run, not two

    with pytest.raises(FlowloomError, match="already succeeded"):
        await engine.resume(first.id)


async def test_a_canceled_loop_resumes_at_its_first_unfinished_iteration(
    store: MemoryStore | SqlStore,
) -> None:
    counter = CountExecutor()
    counter.block.add(("inner", (3,)))
    engine = engine_with(store, counter)
    run = engine.start(count_loop(5))
    with anyio.fail_after(10):
        await counter.blocked.wait()
    run.cancel()
    await run.join()
    assert run.status is Status.CANCELED
    recorded = {(n.node_id, n.scope): n.status for n in await store.get_nodes(run.id)}
    assert [recorded[("inner", (i,))] for i in range(3)] == [Status.SUCCEEDED] * 3
    assert recorded[("inner", (3,))] is Status.CANCELED

    counter.block.clear()
    counter.calls.clear()
    resumed = await engine.resume(run.id)
    await resumed.join()
    assert resumed.status is Status.SUCCEEDED
    assert resumed.outputs == {"ys": [1, 2, 3, 4, 5]}
    assert counter.calls == [("inner", (3,)), ("inner", (4,))]


async def test_from_nodes_reruns_them_and_downstream_as_a_new_linked_run(
    store: MemoryStore | SqlStore,
) -> None:
    counter = CountExecutor()
    engine = engine_with(store, counter)
    first = await engine.run(diamond(), {"x": 10})
    counter.calls.clear()
    again = await engine.resume(first.id, from_nodes=["c"])
    await again.join()
    assert again.id != first.id and again.status is Status.SUCCEEDED and again.outputs == {"y": 13}
    assert sorted(node for node, _scope in counter.calls) == ["c", "d"]
    row = await store.get_run(again.id)
    assert row is not None and row.parent_run_id == first.id
    assert row.metadata["from_nodes"] == ["c"]
    # the new run's history is whole: restored nodes are copied into it
    assert {n.node_id for n in await store.get_nodes(again.id)} == {"start_0", "a", "b", "c", "d", "end_0"}

    with pytest.raises(InvalidWorkflowError, match='no node "cc" in the workflow \\(did you mean "c"\\?\\)'):
        await engine.resume(first.id, from_nodes=["cc"])


async def test_from_a_node_inside_a_loop_reruns_that_node_in_every_iteration(
    store: MemoryStore | SqlStore,
) -> None:
    counter = CountExecutor()
    engine = engine_with(store, counter)
    first = await engine.run(count_loop(3))
    assert first.outputs == {"ys": [1, 2, 3]}
    counter.calls.clear()
    again = await engine.resume(first.id, from_nodes=["inner"])
    await again.join()
    assert again.outputs == {"ys": [1, 2, 3]}
    assert counter.calls == [("inner", (0,)), ("inner", (1,)), ("inner", (2,))]


async def test_resume_refuses_a_run_a_live_engine_owns(store: MemoryStore | SqlStore) -> None:
    counter = CountExecutor()
    counter.block.add("c2")
    owner = engine_with(store, counter)
    run = owner.start(count_chain(3), {"x": 0})
    with anyio.fail_after(10):
        await counter.blocked.wait()
    with pytest.raises(RunOwnedError, match="running in this engine"):
        await owner.resume(run.id)
    other = engine_with(store, CountExecutor())
    with pytest.raises(RunOwnedError, match=r"being executed by .* live process"):
        await other.resume(run.id)
    counter.release.set()
    await run.join()
    assert run.status is Status.SUCCEEDED
    with pytest.raises(FlowloomError, match="no run 'nope'"):
        await other.resume("nope")


async def test_a_dead_owners_run_is_taken_over_and_resume_orphans_finds_it(
    store: MemoryStore | SqlStore,
) -> None:
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    engine = engine_with(store, CountExecutor())
    template = await engine.run(count_chain(2), {"x": 5})  # a recorded workflow to point the orphans at
    row = await store.get_run(template.id)
    assert row is not None
    for run_id, owner, expires in [
        ("dead-owner", f"{socket.gethostname()}/{dead.stdout.decode().strip()}/x", 1e12),
        ("expired", "elsewhere/1/x", 1.0),
        ("alive-elsewhere", "elsewhere/1/y", 1e12),
    ]:
        await store.create_run(
            RunRow(
                id=run_id,
                workflow_hash=row.workflow_hash,
                status=Status.PROCESSING,
                created_at=row.created_at,
                inputs={"x": 5},
                owner=owner,
                lease_expires_at=expires,
            )
        )
    resumed = await engine.resume_orphans()
    assert sorted(run.id for run in resumed) == ["dead-owner", "expired"]
    for run in resumed:
        await run.join()
        assert run.outputs == {"y": 7}
    alive = await store.get_run("alive-elsewhere")
    assert alive is not None and alive.status is Status.PROCESSING


async def test_a_cache_hit_is_recorded_as_cached(store: MemoryStore | SqlStore) -> None:
    counter = CountExecutor()
    engine = engine_with(store, counter)
    workflow = count_chain(2)
    workflow["nodes"][1]["cache"] = {"ttlS": 60}
    seen: list[NodeSucceeded] = []
    engine.bus.add_listener(lambda e: seen.append(e) if isinstance(e, NodeSucceeded) else None)
    first = await engine.run(workflow, {"x": 1})
    second = await engine.run(workflow, {"x": 1})
    other_input = await engine.run(workflow, {"x": 2})
    assert first.outputs == second.outputs == {"y": 3} and other_input.outputs == {"y": 4}
    assert counter.ran("c1") == 2  # x=1 once, x=2 once
    cached = {n.node_id: n.cached for n in await store.get_nodes(second.id)}
    assert cached == {"start_0": False, "c1": True, "c2": False, "end_0": False}
    assert [e.cached for e in seen if e.node_id == "c1"] == [False, True, False]


async def test_an_expired_cache_entry_runs_the_node_again(store: MemoryStore | SqlStore) -> None:
    counter = CountExecutor()
    engine = engine_with(store, counter)
    workflow = count_chain(1)
    workflow["nodes"][1]["cache"] = {"ttlS": 0.05}
    stale = CacheEntry(key="0" * 64, value={"outputs": {}}, created_at=0.0, expires_at=1.0)
    await store.put_cache(stale)
    await engine.run(workflow, {"x": 1})
    assert await store.get_cache(stale.key, now=0.5) is None  # expired entries were pruned, not just hidden
    await anyio.sleep(0.1)
    await engine.run(workflow, {"x": 1})
    assert counter.ran("c1") == 2


async def test_concurrent_runs_are_all_recorded(store: MemoryStore | SqlStore) -> None:
    engine = engine_with(store, CountExecutor())
    runs = [engine.start(count_chain(10, sleep_s=0.001), {"x": i}) for i in range(20)]
    for run in runs:
        await run.join()
    assert [run.outputs for run in runs] == [{"y": i + 10} for i in range(20)]
    for run in runs:
        nodes = await store.get_nodes(run.id)
        assert len(nodes) == 12 and {n.status for n in nodes} == {Status.SUCCEEDED}
        events = await store.get_events(run.id)
        assert len(events) == 2 + 2 * 12
    assert len(await store.list_runs(limit=100)) == 20


async def test_rejected_runs_are_recorded_with_their_errors(store: MemoryStore | SqlStore) -> None:
    engine = engine_with(store, CountExecutor())
    workflow = {"nodes": [start(x="number"), end(y=ref("start_0", "x"))], "edges": [edge("start_0", "end_0")]}
    run = engine.start(workflow, {"x": "not a number"})
    assert run.status is Status.FAILED
    for _ in range(100):
        row = await store.get_run(run.id)
        if row is not None:
            break
        await anyio.sleep(0.01)
    assert row is not None and row.status is Status.FAILED and row.error == run.error


async def test_an_engine_without_a_store_cannot_resume() -> None:
    engine = Engine()
    with pytest.raises(FlowloomError, match="no store"):
        await engine.resume("anything")


async def test_a_store_url_is_opened_and_closed_by_the_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'owned.db'}"
    counter = CountExecutor()
    registry = NodeRegistry.default()
    registry.register(counter)
    async with Engine(registry=registry, store=url) as engine:
        run = await engine.run(count_chain(1), {"x": 1})
    async with SqlStore(url) as reopened:
        row = await reopened.get_run(run.id)
    assert row is not None and row.outputs == {"y": 2}


async def test_the_ledger_holds_what_the_bus_carried_in_the_same_order(store: MemoryStore | SqlStore) -> None:
    """The journal is the bus's subscriber for the run: every event a listener saw (a retry, a failure, a
    skip with on_error=continue among them) is in the ledger, in the order the bus carried it."""
    counter = CountExecutor()
    counter.fail.add("c2")
    engine = engine_with(store, counter)
    seen: list[tuple[str, str | None]] = []
    engine.bus.add_listener(lambda e: seen.append((type(e).__name__, getattr(e, "node_id", None))))
    workflow = count_chain(3)
    workflow["nodes"][2]["retry"] = {"maxAttempts": 2}
    workflow["settings"] = {"onError": "continue"}
    run = await engine.run(workflow, {"x": 1})
    assert run.status is Status.FAILED
    ledger = [(e.type, e.data.get("node_id")) for e in await store.get_events(run.id)]
    assert ("NodeRetrying", "c2") in seen and ("NodeSkipped", "c3") in seen
    assert ledger == seen
