"""The second activation policy: re-entrant nodes (``any``) run once per taken incoming edge, each run an
execution with its own record; cycles are allowed only through them; a runaway loop fails clearly; data-only
nodes (``pull``) are never scheduled, only pulled; a waiting loop resumes where it was from a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import flowloom
from flowloom import Engine, NodeContext, NodeRegistry, NodeResult, Status, Traits
from flowloom.ir import Activation, Edge, Node, Wait, Workflow
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio


class Seed:
    type: ClassVar[str] = "seed"
    traits: ClassVar[Traits] = Traits(entry=True, lightweight=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs={"n": 0})


class Step:
    """Adds the pulled node's ``by`` to the count that came along the edge; ``again`` until ``limit``."""

    type: ClassVar[str] = "step"
    traits: ClassVar[Traits] = Traits(lightweight=True, terminal=True)

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        assert ctx.trigger is not None
        by = (await ctx.pull("by", {}))["value"] if ctx.pulled_node("by") is not None else 1
        n = ctx.trigger.outputs["n"] + by
        if ctx.data.get("ask") and n == 2 and "go" not in ctx.answers:
            return Wait(key="go", reason="user", prompt="go on?")
        done = n >= ctx.data["limit"]
        return NodeResult(
            outputs={"n": n}, branch="done" if done else "again", workflow_outputs={"n": n} if done else None
        )


class Const:
    type: ClassVar[str] = "const"

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs={"value": ctx.data["value"]})


class Finish:
    type: ClassVar[str] = "finish"
    traits: ClassVar[Traits] = Traits(lightweight=True, terminal=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs={})


def engine(**kwargs: Any) -> Engine:
    registry = NodeRegistry.default()
    for executor in (Seed(), Step(), Const(), Finish()):
        registry.register(executor)
    return Engine(registry=registry, **kwargs)


def loop(
    limit: int, *, max_activations: int | None = None, ask: bool = False, pull: bool = False
) -> Workflow:
    nodes = [
        Node(id="seed", type="seed"),
        Node(
            id="step",
            type="step",
            data={"limit": limit, "ask": ask},
            activation=Activation.ANY,
            max_activations=max_activations,
        ),
        Node(id="end", type="finish"),
    ]
    if pull:
        nodes.append(Node(id="by", type="const", data={"value": 2}, activation=Activation.PULL))
    edges = [
        Edge(source="seed", target="step"),
        Edge(source="step", source_port="again", target="step"),
        Edge(source="step", source_port="done", target="end"),
    ]
    return Workflow(nodes=nodes, edges=edges)


async def test_a_reentrant_node_runs_once_per_taken_edge_each_with_its_record() -> None:
    async with engine() as eng:
        run = await eng.run(loop(5))
        assert run.status is Status.SUCCEEDED, run.error
        assert await run.wait() == {"n": 5}
        report = run.report()
        assert len(report.reports["step"].snapshots) == 5


async def test_pulled_nodes_are_not_scheduled_but_computed_for_their_consumer() -> None:
    async with engine() as eng:
        run = await eng.run(loop(6, pull=True))
        assert await run.wait() == {"n": 6}
        assert "by" not in run.report().reports


async def test_a_runaway_loop_fails_naming_the_node() -> None:
    async with engine() as eng:
        run = await eng.run(loop(1_000, max_activations=10))
        assert run.status is Status.FAILED
        assert 'Node "step" was activated more than 10 times' in str(run.error)


async def test_a_cycle_is_refused_unless_it_passes_through_a_reentrant_node() -> None:
    joins = loop(3).model_copy(
        update={"nodes": [n.model_copy(update={"activation": Activation.ALL}) for n in loop(3).nodes]}
    )
    async with engine() as eng:
        with pytest.raises(flowloom.InvalidWorkflowError, match='has a cycle: "step" -> "step"'):
            eng.load(joins)


async def test_a_waiting_loop_resumes_from_the_store_in_a_new_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with engine(store=url) as first:
        run = await first.run(loop(4, ask=True))
        assert run.status is Status.WAITING
        assert [(w.key, w.scope) for w in run.waits] == [("go", (1,))]
    async with engine(store=url) as second:
        resumed = await second.resume(run.id, payload=True)
        assert await resumed.wait() == {"n": 4}
    store = SqlStore(url)
    try:
        rows = [(r.node_id, r.scope, r.status) for r in await store.get_nodes(run.id) if r.node_id == "step"]
    finally:
        await store.close()
    assert rows == [("step", (i,), Status.SUCCEEDED) for i in range(4)]
