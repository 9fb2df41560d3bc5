"""Workflows and a node type for the durability tests: ``count`` nodes add one to their input and log each
execution (to memory, and to a file when ``FLOWLOOM_TEST_COUNT_FILE`` is set), so a test can tell which nodes
ran and how often."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, ClassVar

import anyio

from _workflows import edge, end, node, props, ref, start
from flowloom import NodeContext, NodeError, NodeResult


class CountExecutor:
    """``count``: outputs ``value = x + 1``; ``data.fail_at``/``data.block_at``: the x at which it fails or
    waits for ``release`` (a test's stand-in for a long call)."""

    type: ClassVar[str] = "count"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []
        self.fail: set[str] = set()
        self.block: set[str | tuple[str, tuple[int, ...]]] = set()  # node ids, or (node id, scope)
        self.blocked = anyio.Event()
        self.release = anyio.Event()

    async def execute(self, ctx: NodeContext) -> NodeResult:
        node_id = ctx.node.id
        self.calls.append((node_id, ctx.scope_path))
        log = os.environ.get("FLOWLOOM_TEST_COUNT_FILE")
        if log:
            line = f"{ctx.run_id} {node_id} {'/'.join(map(str, ctx.scope_path))}\n"
            _append(Path(log), line)
        if node_id in self.fail:
            raise NodeError(f"{node_id} failed on purpose")
        if node_id in self.block or (node_id, ctx.scope_path) in self.block:
            self.blocked.set()
            await self.release.wait()
        delay = ctx.data.get("sleep_s")
        if delay:
            await anyio.sleep(float(delay))
        return NodeResult(outputs={"value": ctx.inputs.get("x", 0) + 1})

    def ran(self, node_id: str) -> int:
        return sum(1 for called, _scope in self.calls if called == node_id)


def count(node_id: str, source: str, key: str = "value", **data: Any) -> dict[str, Any]:
    return node(
        node_id,
        "count",
        inputs=props(x="number"),
        inputsValues={"x": ref(source, key)},
        outputs=props(value="number"),
        **data,
    )


def count_chain(n: int, **data: Any) -> dict[str, Any]:
    """start(x) -> c1 -> ... -> cn -> end(y = cn.value): y = x + n."""
    nodes = [start(x="number")]
    previous, key = "start_0", "x"
    for i in range(1, n + 1):
        nodes.append(count(f"c{i}", previous, key, **data))
        previous, key = f"c{i}", "value"
    nodes.append(end(y=ref(previous, "value")))
    return {"nodes": nodes, "edges": [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]}


def diamond() -> dict[str, Any]:
    """start -> a -> (b, c) -> d -> end: d = a + 1 after both b and c."""
    nodes = [
        start(x="number"),
        count("a", "start_0", "x"),
        count("b", "a"),
        count("c", "a"),
        count("d", "b"),
        end(y=ref("d", "value")),
    ]
    pairs = [("start_0", "a"), ("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "end_0")]
    return {"nodes": nodes, "edges": [edge(a, b) for a, b in pairs]}


def count_loop(items: int) -> dict[str, Any]:
    """start(xs) -> loop over xs { inner = item + 1 } -> end(ys = [inner.value per item])."""
    inner = node(
        "inner",
        "count",
        inputs=props(x="number"),
        inputsValues={"x": ref("loop_0_locals", "item")},
        outputs=props(value="number"),
    )
    loop = node(
        "loop_0",
        "loop",
        loopFor=ref("start_0", "xs"),
        loopOutputs={"ys": ref("inner", "value")},
    )
    loop["blocks"] = [node("block_start", "block-start"), inner, node("block_end", "block-end")]
    loop["edges"] = [edge("block_start", "inner"), edge("inner", "block_end")]
    first = start(xs="array")
    first["data"]["outputs"]["properties"]["xs"]["items"] = {"type": "number"}
    first["data"]["outputs"]["properties"]["xs"]["default"] = list(range(items))
    last = node(
        "end_0",
        "end",
        inputs={"type": "object", "properties": {"ys": {"type": "array", "items": {"type": "number"}}}},
        inputsValues={"ys": ref("loop_0", "ys")},
    )
    return {"nodes": [first, loop, last], "edges": [edge("start_0", "loop_0"), edge("loop_0", "end_0")]}


def _append(path: Path, line: str) -> None:
    """One short append: the crash tests count lines, so it must not be buffered across a SIGKILL."""
    with path.open("a") as file:
        file.write(line)
