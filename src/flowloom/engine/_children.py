"""Child runs: a node (a VisualFlow subflow) runs another workflow as a run of its own, linked to its run
(``parent_run_id``), recorded and resumable like any run. ``ChildRuns`` is the port nodes reach as
``ctx.services.children``; the engine implements it (``EngineChildren``).

The parent node drives its child: it starts it (under a run id derived from the node's execution, so a
node run again finds the same child), waits for it to end or to wait, and, when the child waits, waits
itself with the child's wait (same key, reason, prompt), so the root run reports the innermost wait and an
answer to the root reaches the child through every level. A child that ends while its parent is parked
(resumed on its own, e.g. a due timer) answers the parent's wait itself (``answer_parent``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowloom.ir import FlowloomError, RunStore, Status, WaitError, WaitRow, WaitStatus

logger = logging.getLogger("flowloom.engine")

CHILD_RUN_ID = "child_run_id"
"""The key of a parent's wait details that names the child run it waits for."""
CHILD_METADATA = "child_run"
"""Set in a child run's metadata: its end may have to answer its parent."""


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """Where a child run stands: ended (``outputs`` or ``error``) or waiting on ``waits``."""

    run_id: str
    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    waits: list[WaitRow] = field(default_factory=list)


class ChildRuns(Protocol):
    async def run_child(
        self,
        parent_run_id: str,
        child_run_id: str,
        document: Mapping[str, Any],
        inputs: Mapping[str, Any],
        answers: Mapping[str, Any],
        *,
        format: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ChildOutcome:
        """Start the child ``child_run_id`` (``document`` with ``inputs``) unless it exists, else carry it
        on: a waiting child gets the answer in ``answers`` under its open wait's key, an orphaned one is
        resumed, a running one here is joined. Returns once it ended or waits. Canceling the call cancels
        the child. ``metadata`` is recorded with a new child."""


class Run(Protocol):
    """What child runs need of a run's handle (``flowloom.engine.Run``; not imported: the node context's
    side of the engine does not reach the scheduler's)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> Status: ...

    @property
    def outputs(self) -> dict[str, Any]: ...

    @property
    def error(self) -> str | None: ...

    @property
    def waits(self) -> list[WaitRow]: ...

    async def join(self, timeout: float | None = None) -> None: ...  # noqa: ASYNC109 (Run's signature)

    def cancel(self) -> bool: ...


class _Engine(Protocol):
    """What child runs need of the engine (``Engine`` implements it)."""

    store: RunStore | None

    def start(
        self,
        workflow: Any,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        format: str | None = None,
        parent_run_id: str | None = None,
    ) -> Run: ...

    async def resume(self, run_id: str, *, payload: Any = ..., key: str | None = None) -> Run: ...

    def active_run(self, run_id: str) -> Run | None: ...


class EngineChildren:
    """``ChildRuns`` on an engine: children run in it, recorded in its store."""

    def __init__(self, engine: _Engine) -> None:
        self._engine = engine

    async def run_child(
        self,
        parent_run_id: str,
        child_run_id: str,
        document: Mapping[str, Any],
        inputs: Mapping[str, Any],
        answers: Mapping[str, Any],
        *,
        format: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ChildOutcome:
        engine = self._engine
        handle = await self._carry_on(child_run_id, answers)
        if isinstance(handle, ChildOutcome):
            return handle
        if handle is None:
            handle = engine.start(
                document,
                inputs,
                run_id=child_run_id,
                format=format,
                parent_run_id=parent_run_id,
                metadata={**(metadata or {}), CHILD_METADATA: True},
            )
        try:
            await handle.join()
        except BaseException:  # the parent was canceled (or timed out): its child goes with it
            handle.cancel()
            raise
        return ChildOutcome(handle.id, handle.status, handle.outputs, handle.error, list(handle.waits))

    async def _carry_on(self, child_run_id: str, answers: Mapping[str, Any]) -> Run | ChildOutcome | None:
        """The handle of an existing child carried on, its outcome if it stands still, None if new."""
        engine = self._engine
        active = engine.active_run(child_run_id)
        if active is not None:
            return active
        store = engine.store
        row = await store.get_run(child_run_id) if store is not None else None
        if row is None:
            return None
        if row.status.terminated:
            return ChildOutcome(row.id, row.status, dict(row.outputs or {}), row.error)
        if row.status is Status.WAITING:
            assert store is not None
            waits = [w for w in await store.get_waits(row.id) if w.status is WaitStatus.OPEN]
            answered = next((w for w in waits if w.key in answers), None)
            if answered is None:
                return ChildOutcome(row.id, row.status, waits=waits)
            try:
                return await engine.resume(row.id, payload=answers[answered.key], key=answered.key)
            except WaitError:  # answered by another engine first (a due wait): follow it from the store
                return await self._carry_on(child_run_id, {})
        return await engine.resume(row.id)  # left processing by an engine that is gone


async def answer_parent(engine: _Engine, child: Run, parent_id: str) -> None:
    """A child run ended: if its parent is parked on it, answer the parent's wait and resume the parent
    (its subflow node then reads the child's outcome from the store). A parent that drives the child
    itself is not parked on it, and this does nothing."""
    store = engine.store
    if store is None:
        return
    try:
        for wait in await store.get_waits(parent_id):
            if wait.status is WaitStatus.OPEN and wait.details.get(CHILD_RUN_ID) == child.id:
                resumed = await engine.resume(
                    parent_id, payload={CHILD_RUN_ID: child.id, "status": str(child.status)}, key=wait.key
                )
                await resumed.join()
    except WaitError:
        return  # answered first by someone else
    except (FlowloomError, OSError) as exc:  # StoreError is a FlowloomError
        logger.error("cannot resume run %s after its child run %s ended: %s", parent_id, child.id, exc)
