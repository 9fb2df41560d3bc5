"""One execution of a plan in one scope (the workflow, or one loop iteration): which nodes are ready, by
dead-path elimination, and the driver tasks that run them (see ``_scheduler``). What it needs of the run's
driver is ``GraphDriver``."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._activation import Trigger
from ._plan import CompiledNode, Plan
from ._scope import Scope

if TYPE_CHECKING:
    from anyio.abc import TaskGroup


class GraphDriver(Protocol):
    """What a graph needs of the run that drives it (``RunDriver``)."""

    parallel: int  # how many nodes may run at once

    async def execute(self, graph: GraphRun, index: int) -> list[int]:
        """Run node ``index`` of ``graph``; the nodes that became ready."""

    def record_skip(self, graph: GraphRun, cnode: CompiledNode) -> None:
        """Record that ``cnode`` was skipped."""


class NodeFailure(Exception):
    """A recorded node failure travelling up to end its graph (``on_error=stop``)."""


class GraphRun:
    """One execution of a plan in one scope: the workflow, or one loop iteration."""

    __slots__ = (
        "activations",
        "driver",
        "drivers",
        "failure",
        "inbox",
        "pending",
        "plan",
        "poisoned",
        "queue",
        "scope",
        "taken",
        "tg",
        "waiting",
    )

    def __init__(self, driver: GraphDriver, plan: Plan, scope: Scope) -> None:
        self.driver = driver
        self.plan = plan
        self.scope = scope
        self.pending = [n.in_degree for n in plan.nodes]
        self.taken = bytearray(len(plan.nodes))
        self.poisoned: bytearray | None = None  # edges killed by a failure (on_error=continue)
        self.failure: str | None = None
        self.tg: TaskGroup | None = None
        self.queue: deque[int] = deque()  # ready nodes waiting for a driver task
        self.drivers = 1  # tasks running _drive, this one included
        self.waiting = False  # a node of this graph waits: its outgoing edges never settle
        # Re-entrant nodes only: activations so far, and the triggers of those not yet run, by node index.
        self.activations = [0] * len(plan.nodes) if plan.reentrant else None
        self.inbox: dict[int, deque[tuple[str, str, Any]]] = {}

    async def run(self) -> None:
        entries = self.plan.entries
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                for entry in entries[1:]:
                    self._hand_off(entry)
                if entries:
                    await self._drive(entries[0])
        except BaseExceptionGroup as group:
            failures, rest = group.split(NodeFailure)
            if rest is not None or failures is None:
                raise
            raise failures.exceptions[0] from None

    async def _drive(self, index: int) -> None:
        """Run ``index`` and what becomes ready after it. Lightweight nodes and the first other ready
        node continue in this task; each further node that may block is handed off to another driver.
        A driver whose nodes are done takes the next waiting one before it ends."""
        execute = self.driver.execute
        nodes = self.plan.nodes
        queue = self.queue
        todo = [index]
        while True:
            while todo:
                ready = await execute(self, todo.pop())
                if not ready:
                    continue
                inline_blocking = False
                for successor in reversed(ready):  # reversed: the stack pops them in edge order
                    if nodes[successor].lightweight or not inline_blocking:
                        inline_blocking = inline_blocking or not nodes[successor].lightweight
                        todo.append(successor)
                    else:
                        self._hand_off(successor)
            if not queue:
                break
            todo.append(queue.popleft())
        self.drivers -= 1

    def _hand_off(self, index: int) -> None:
        """Run ``index`` in a new driver task, or, with as many drivers as nodes may run at once (spawning a
        task costs more than running a small node), queue it for the next driver that frees up."""
        if self.drivers < self.driver.parallel:
            self.drivers += 1
            assert self.tg is not None
            self.tg.start_soon(self._drive, index)
        else:
            self.queue.append(index)

    def activate(self, index: int) -> Trigger:
        """Count an activation of the re-entrant node ``index`` and take the trigger it came with."""
        activations = self.activations
        assert activations is not None, "a plan with a re-entrant node counts activations"
        count = activations[index]
        activations[index] = count + 1
        box = self.inbox.get(index)
        source, port, outputs = box.popleft() if box else ("", "", {})
        return Trigger(source, port, outputs, count)

    def settle_any(
        self, node: CompiledNode, branch: str | None, outputs: Any, failed: bool = False
    ) -> list[int]:
        """``settle`` for a plan with re-entrant nodes: a taken edge into one activates it once more
        (carrying ``outputs``); one that never got a taken edge is skipped once all its edges died."""
        nodes, pending, taken, inbox = self.plan.nodes, self.pending, self.taken, self.inbox
        ready: list[int] = []
        dead: list[int] = []
        if failed and self.poisoned is None:
            self.poisoned = bytearray(len(pending))
        for port, target in node.out_edges:
            live = not failed and (branch is None or port == branch)
            if failed:
                self.poisoned[target] = 1  # type: ignore[index]
            if nodes[target].reentrant:
                if live:
                    taken[target] = 1
                    inbox.setdefault(target, deque()).append((node.id, port, outputs))
                    ready.append(target)
                else:
                    pending[target] -= 1
                    if pending[target] == 0 and not taken[target]:
                        dead.append(target)
                continue
            if live:
                taken[target] = 1
            pending[target] -= 1
            if pending[target] == 0:
                (ready if self.live(target) else dead).append(target)
        while dead:
            skipped = nodes[dead.pop()]
            poisoned = self.poisoned is not None and self.poisoned[skipped.index]
            if poisoned:
                self.driver.record_skip(self, skipped)
            for _port, target in skipped.out_edges:
                if poisoned:
                    self.poisoned[target] = 1  # type: ignore[index]
                pending[target] -= 1
                if pending[target] == 0:
                    if nodes[target].reentrant:
                        if not taken[target]:
                            dead.append(target)
                    else:
                        (ready if self.live(target) else dead).append(target)
        return ready

    def live(self, target: int) -> bool:
        """Whether a node whose incoming edges have all settled runs: one taken edge is enough, unless
        the node is a strict join and a failure upstream reached it."""
        if not self.taken[target]:
            return False
        poisoned = self.poisoned
        return poisoned is None or not poisoned[target] or not self.plan.nodes[target].strict_join

    def settle(self, node: CompiledNode, branch: str | None, failed: bool = False) -> list[int]:
        """Settle ``node``'s outgoing edges; return the successors that became ready to run."""
        pending, taken = self.pending, self.taken
        ready: list[int] = []
        dead: list[int] = []
        if failed and self.poisoned is None:
            self.poisoned = bytearray(len(pending))
        for port, target in node.out_edges:
            if not failed and (branch is None or port == branch):
                taken[target] = 1
            elif failed:
                self.poisoned[target] = 1  # type: ignore[index]
            pending[target] -= 1
            if pending[target] == 0:
                (ready if self.live(target) else dead).append(target)
        while dead:
            skipped = self.plan.nodes[dead.pop()]
            poisoned = self.poisoned is not None and self.poisoned[skipped.index]
            if poisoned:
                self.driver.record_skip(self, skipped)
            for _port, target in skipped.out_edges:
                if poisoned:
                    self.poisoned[target] = 1  # type: ignore[index]
                pending[target] -= 1
                if pending[target] == 0:
                    (ready if self.live(target) else dead).append(target)
        return ready
