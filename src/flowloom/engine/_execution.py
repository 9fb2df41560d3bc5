"""The engine's second part: executing a run it started or resumed, from its recording's start to its
end or its parking (``RunExecution``, which ``Engine`` is); ``_engine`` decides what to start."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from flowloom.ir import RunStarted, Status, StoreError, WaitRow, WaitStatus

from ._attempts import run_attempts
from ._bus import EventBus, RunEvents
from ._cache import ResultCache
from ._journal import TRAIL_S, RunJournal
from ._leases import Leases
from ._limits import Slots
from ._plan import CompiledWorkflow
from ._recorder import RunRecorder, run_finished, run_resumed, run_waiting
from ._records import RunRecords
from ._run import Run
from ._scheduler import Answers, Restored, RunDriver
from ._scope import Globals, Scope
from ._secrets import reveal_secret
from ._services import Services

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskGroup


class RunExecution:
    """Executing runs, for a class that has the engine's bus, services, store recorder and leases."""

    bus: EventBus
    services: Services
    max_parallel: int
    cache: ResultCache
    recorder: RunRecorder | None
    leases: Leases | None
    _active: dict[str, Run]
    _task_group: TaskGroup | None
    _background: set[asyncio.Task[None]]

    def _spawn(self, func: Any, *args: Any) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(func, *args)
            return
        import asyncio  # here, not at the top: `import flowloom` stays without asyncio until a run

        task = asyncio.get_running_loop().create_task(func(*args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _execute(
        self,
        compiled: CompiledWorkflow,
        run: Run,
        restored: Restored | None,
        copy_restored: bool = False,
    ) -> None:
        records, recording = run.records, run.recording
        scope = run.begin()
        self._active[records.run_id] = run
        if recording is not None:
            assert self.recorder is not None
            try:
                await self.recorder.start(compiled, records, recording)
            except (StoreError, OSError) as exc:
                self._active.pop(records.run_id, None)
                run.settle(Status.FAILED, f"cannot record the run: {exc}")
                run.finish()
                self._emit_finished(records)
                return
        run.mark_recorded()
        answers: Answers = {}
        open_waits: dict[str, WaitRow] = {}
        if recording is not None:
            for wait in recording.stored_waits:
                if wait.status is WaitStatus.ANSWERED:
                    answers.setdefault((wait.node_id, wait.scope), {})[wait.key] = wait.payload
                else:
                    open_waits[wait.key] = wait
        if recording is not None:
            recording.journal.masker = records.masker
        events = RunEvents(
            self.bus, records.run_id, recording.journal if recording is not None else None, records.masker
        )
        if recording is not None and recording.answered is not None:
            events.publish(run_resumed(recording.answered))
        events.publish(
            RunStarted(run_id=records.run_id, at=records.start or time.time(), inputs=records.shown_inputs())
        )

        def driver_for(restored: Restored | None) -> RunDriver:
            return RunDriver(
                compiled=compiled,
                records=records,
                bus=self.bus,
                services=self.services,
                limiter=Slots(compiled.settings.max_parallel or self.max_parallel),
                root_scope=Scope(
                    Globals(compiled.workflow.global_variables, partial(reveal_secret, records.masker))
                ),
                events=events,
                cache=self.cache if compiled.uses_cache else None,
                restored=restored,
                copy_restored=copy_restored,
                answers=answers,
                open_waits=open_waits,
            )

        driver = driver_for(restored)
        interrupted = False
        store_failure: str | None = None
        try:
            with scope:
                if self.leases is None or recording is None:
                    driver = await run_attempts(run, driver, driver_for, events)
                else:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self.leases.keep, run)
                        tg.start_soon(_flush_trailing, recording.journal)
                        driver = await run_attempts(run, driver, driver_for, events)
                        tg.cancel_scope.cancel()
        except (StoreError, OSError) as exc:  # the store failed under the run: it cannot go on durably
            store_failure = f"cannot record the run: {exc}"
        except BaseException:  # canceled from outside: the engine closing, the caller's own scope
            interrupted = True
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self._conclude(run, driver, store_failure, interrupted)

    async def _conclude(
        self, run: Run, driver: RunDriver, store_failure: str | None, interrupted: bool
    ) -> None:
        """Settle a run whose execution ended: record its end, or park it when it waits."""
        records, recording = run.records, run.recording
        parked = store_failure is None and not interrupted and not run.cancel_requested and driver.parked
        if store_failure is not None:
            run.settle(Status.FAILED, store_failure)
        elif interrupted or run.cancel_requested:
            run.settle(Status.CANCELED)
        elif not parked:
            run.settle(Status.FAILED if driver.failed else Status.SUCCEEDED)
        if recording is not None:
            assert self.recorder is not None
            if not parked:
                await self.recorder.end(records, recording)
            else:
                run.start_parking()
                if not await self.recorder.waiting(records, recording, driver.waits):
                    run.settle(Status.FAILED)
                    parked = False
        self._active.pop(records.run_id, None)
        if parked:
            run.park(driver.waits)
            if self.bus.active:
                self.bus.emit(run_waiting(records, driver.waits))
        else:
            run.finish()
            self._emit_finished(records)
            self._after_end(run)

    def active_run(self, run_id: str) -> Run | None:
        """The handle of ``run_id`` if this engine executes it now."""
        return self._active.get(run_id)

    def _after_end(self, run: Run) -> None:
        """What follows a run's end (a child run answers its parked parent)."""

    def _emit_finished(self, records: RunRecords) -> None:
        if self.bus.active:
            self.bus.emit(run_finished(records))

    async def _record_rejected(self, run: Run, metadata: dict[str, Any]) -> None:
        assert self.recorder is not None
        try:
            await self.recorder.rejected(run.records, metadata)
        finally:
            run.mark_recorded()


async def _flush_trailing(journal: RunJournal) -> None:
    """While a recorded run goes on: write what waited unwritten for ``TRAIL_S`` (see ``RunJournal``)."""
    while True:
        await anyio.sleep(TRAIL_S)
        if journal.trailing():
            await journal.flush()
