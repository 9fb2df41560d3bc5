"""The executor contract: traits declared with ``flowloom.Traits`` (none declared: none on), refused when
declared the old way; and a ``NodeContext`` that reaches its run through a small port, with no scheduler
type behind it."""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import pytest

import flowloom
from _durable import CountExecutor, count_loop
from _imports import all_imports
from flowloom import ir
from flowloom.engine import traits_of

pytestmark = pytest.mark.anyio


class Plain:
    """As the README writes a node type: a type and ``execute``, nothing declared."""

    type = "plain"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        return flowloom.NodeResult(outputs={"seen": ctx.inputs})


class Terminal(Plain):
    type = "terminal"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(terminal=True)


def ends_at(node_type: str) -> flowloom.Workflow:
    """start -> one node of ``node_type`` with no outgoing edge."""
    first = ir.Node(id="start_0", type="start", outputs=ir.JsonSchema(type="object", properties={}))
    nodes = [first, ir.Node(id="last", type=node_type)]
    return ir.Workflow(nodes=nodes, edges=[ir.Edge(source="start_0", target="last")])


def test_an_executor_that_declares_nothing_has_no_traits() -> None:
    assert traits_of(Plain()) == flowloom.Traits()
    assert traits_of(Terminal()) == flowloom.Traits(terminal=True)


async def test_declared_traits_change_how_nodes_run() -> None:
    engine = flowloom.Engine()
    engine.register_executor(Plain())
    engine.register_executor(Terminal())
    plain = await engine.run(engine.load(ends_at("plain")), {})
    assert plain.status is flowloom.Status.FAILED
    assert plain.error == 'Node "last" has no next nodes'
    terminal = await engine.run(engine.load(ends_at("terminal")), {})
    assert terminal.status is flowloom.Status.SUCCEEDED


def test_a_trait_set_as_a_class_flag_is_refused_with_the_way_to_declare_it() -> None:
    class Flagged(Plain):
        type = "flagged"
        lightweight = True
        terminal = True

    registry = flowloom.NodeRegistry()
    with pytest.raises(TypeError) as caught:
        registry.register(Flagged())
    assert str(caught.value) == (
        "Flagged sets terminal, lightweight as class attributes, which flowloom does not read: "
        "declare `traits = flowloom.Traits(terminal=True, lightweight=True)` instead"
    )
    assert "flagged" not in registry


def test_traits_that_are_not_traits_are_refused() -> None:
    class Wrong(Plain):
        type = "wrong"
        traits = ("entry",)

    with pytest.raises(TypeError, match=r"^Wrong\.traits must be a flowloom\.Traits, got tuple$"):
        flowloom.NodeRegistry().register(Wrong())


async def test_a_container_runs_its_block_through_the_context() -> None:
    """The loop runs its block per item (``run_block``), reads each iteration's variables
    (``Iteration.resolve``) and sets its own typed outputs (``set_variable``); the nodes inside see where
    they run (``scope_path``)."""
    counter = CountExecutor()
    engine = flowloom.Engine()
    engine.register_executor(counter)
    run = await engine.run(engine.load(count_loop(3)), {})
    assert run.status is flowloom.Status.SUCCEEDED, run.error
    assert await run.wait() == {"ys": [1, 2, 3]}
    assert counter.calls == [("inner", (0,)), ("inner", (1,)), ("inner", (2,))]


# Engine modules that hold the scheduler or know of it: the context must not reach them, even for types.
SCHEDULER_SIDE = {
    "flowloom.engine._engine",
    "flowloom.engine._journal",
    "flowloom.engine._plan",
    "flowloom.engine._records",
    "flowloom.engine._run",
    "flowloom.engine._scheduler",
}


def test_the_context_depends_on_no_scheduler_module() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in all_imports():
        edges[imp.importer].add(imp.target)
    reached: set[str] = set()
    todo = ["flowloom.engine._context", "flowloom.engine._protocols"]
    while todo:
        module = todo.pop()
        for target in edges[module] - reached:
            reached.add(target)
            todo.append(target)
    assert reached & SCHEDULER_SIDE == set()
    assert "flowloom.engine._scope" in reached  # the check follows imports
