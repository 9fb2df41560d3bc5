"""What a pipeline keeps about each of its runs, and ``PipelineRun``, the handle of a started run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from flowloom.engine import Run
from flowloom.ir import NodeRow

from ._context import RunContext, RunControl
from ._spec import TaskSpec


class RunState:
    """One run of a pipeline: its tasks, context and control, and what its tasks produced (results stay
    Python objects: they are passed on in memory whether or not they could be stored)."""

    __slots__ = (
        "attempts",
        "context",
        "control",
        "created_at",
        "dag_name",
        "exceptions",
        "notes",
        "preset",
        "preset_results",
        "restored",
        "results",
        "resumed_from",
        "run",
        "run_id",
        "specs",
        "tasks",
        "timer",
    )

    def __init__(
        self,
        *,
        run_id: str,
        dag_name: str,
        specs: Mapping[str, TaskSpec],
        tasks: tuple[str, ...],
        context: RunContext[Any],
        created_at: float,
        control: RunControl,
        preset: Mapping[str, dict[str, Any]] | None = None,
        resumed_from: str | None = None,
        restored: Mapping[str, NodeRow] | None = None,
    ) -> None:
        self.run_id = run_id
        self.dag_name = dag_name
        self.specs = specs
        self.tasks = tasks  # this run's tasks, dependencies first (kept ones of a resumed run too)
        self.context = context
        self.control = control
        self.created_at = created_at
        self.preset: Mapping[str, dict[str, Any]] = preset or {}  # report entries kept from an earlier run
        self.preset_results = {name: entry["result"] for name, entry in self.preset.items()}
        self.resumed_from = resumed_from
        self.restored: Mapping[str, NodeRow] = restored or {}  # stored executions the engine restores
        self.results: dict[str, Any] = {}
        self.attempts: dict[str, int] = {}
        self.exceptions: dict[str, BaseException] = {}
        self.notes: dict[str, str | None] = {}  # report notes of succeeded tasks' results (see _report)
        self.run: Run | None = None
        self.timer: asyncio.TimerHandle | None = None

    def cancel(self, reason: str) -> bool:
        """Cancel the run: tasks in flight stop, those not started never start. False once it has ended."""
        self.control.cancel(reason)
        return self.run.cancel() if self.run is not None else False

    def on_deadline(self) -> None:
        self.timer = None
        if self.run is not None and not self.run.done:
            timeout = self.context.timeout_s
            self.cancel(
                f"exceeded its deadline (timeout_s={timeout:g})" if timeout else "exceeded its deadline"
            )

    def settle(self) -> None:
        """Release what the run held once it has ended (its deadline timer)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class PipelineRun:
    """A started pipeline run: ``await wait()``, ``cancel()``, ``report()``."""

    __slots__ = ("_report", "_state")

    def __init__(self, state: RunState, report: Callable[[str], dict[str, Any]]) -> None:
        self._state = state
        self._report = report

    @property
    def id(self) -> str:
        return self._state.run_id

    @property
    def done(self) -> bool:
        run = self._state.run
        return run is not None and run.done

    def cancel(self) -> bool:
        """Cancel the run: in-flight async tasks are cancelled, sync tasks see it through
        ``RunContext.raise_if_cancelled()``, nothing new starts. False if it had already ended."""
        return self._state.cancel("was canceled")

    async def wait(self, timeout: float | None = None) -> str:  # noqa: ASYNC109 (as Run.wait)
        """Wait for the run to end; return its id. ``TimeoutError`` after ``timeout`` seconds (the run goes
        on)."""
        run = self._state.run
        assert run is not None
        await run.join(timeout)
        self._state.settle()
        return self._state.run_id

    def report(self) -> dict[str, Any]:
        """The run report (see ``Pipeline.get_run_report``)."""
        return self._report(self._state.run_id)
