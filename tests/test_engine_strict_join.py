"""The ``strict_join`` executor trait: with ``on_error=continue`` a node that needs all its inputs is skipped
when one of them failed, though another arrived (a plain flowgram join runs on one live input)."""

from __future__ import annotations

from typing import ClassVar

import pytest

import flowloom
from flowloom import ir

pytestmark = pytest.mark.anyio


class Source:
    """An entry node: succeeds, or fails when ``data.fail`` is set."""

    type: ClassVar[str] = "source"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(entry=True)

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        if ctx.data.get("fail"):
            raise RuntimeError(f"{ctx.node.id} failed")
        return flowloom.NodeResult(outputs={})


class Join:
    type: ClassVar[str] = "join"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(terminal=True)

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        return flowloom.NodeResult(outputs={})


class StrictJoin(Join):
    type: ClassVar[str] = "strict-join"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(terminal=True, strict_join=True)


def diamond_of(join_type: str) -> ir.Workflow:
    nodes = [
        ir.Node(id="good", type="source"),
        ir.Node(id="bad", type="source", data={"fail": True}),
        ir.Node(id="join", type=join_type),
        ir.Node(id="after", type=join_type),
    ]
    edges = [ir.Edge(source="good", target="join"), ir.Edge(source="bad", target="join")]
    edges.append(ir.Edge(source="join", target="after"))
    return ir.Workflow(nodes=nodes, edges=edges, settings=ir.WorkflowSettings(on_error=ir.OnError.CONTINUE))


async def run_of(join_type: str) -> dict[str, ir.Status]:
    engine = flowloom.Engine()
    for executor in (Source(), Join(), StrictJoin()):
        engine.register_executor(executor)
    run = await engine.run(diamond_of(join_type))
    assert run.status is ir.Status.FAILED
    return {node_id: report.status for node_id, report in run.report().reports.items()}


async def test_a_plain_join_runs_on_one_live_input() -> None:
    statuses = await run_of("join")
    assert statuses == {
        "good": ir.Status.SUCCEEDED,
        "bad": ir.Status.FAILED,
        "join": ir.Status.SUCCEEDED,
        "after": ir.Status.SUCCEEDED,
    }


async def test_a_strict_join_is_skipped_when_an_input_failed() -> None:
    statuses = await run_of("strict-join")
    assert statuses == {
        "good": ir.Status.SUCCEEDED,
        "bad": ir.Status.FAILED,
        "join": ir.Status.SKIPPED,
        "after": ir.Status.SKIPPED,
    }
