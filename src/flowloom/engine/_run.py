"""``Run``: the handle of one run; what a recorded run carries besides (its journal, metadata, lineage)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio

from flowloom.ir import FlowloomError, Report, RunWaitingError, Status, WaitRow

from ._journal import RunJournal
from ._records import RunRecords


class RunFailedError(FlowloomError):
    """A run failed or was canceled where its outputs were asked for (``await run.wait()``,
    ``flowloom.run``). ``run`` is the run, with its report."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.id} {run.status}: {run.error or 'no error message'}")
        self.run = run


class RunOwnedError(FlowloomError):
    """The run is being executed by a live engine (this one or another process): it cannot be resumed here."""


class RunRecording:
    """A recorded run's store side: its journal, its row's start, and the lease it holds."""

    __slots__ = ("answered", "journal", "metadata", "parent_run_id", "resumed", "stored_waits")

    def __init__(
        self,
        journal: RunJournal,
        *,
        metadata: Mapping[str, Any] | None,
        parent_run_id: str | None = None,
        resumed: bool = False,
        answered: WaitRow | None = None,
        stored_waits: list[WaitRow] | None = None,
    ) -> None:
        self.journal = journal
        self.answered = answered  # the answer this resume was made for (RunResumed)
        self.stored_waits = stored_waits or []  # the run's waits in the store when it was resumed
        self.metadata = dict(metadata or {})
        self.parent_run_id = parent_run_id
        self.resumed = resumed  # the run exists in the store already (resumed in place)


class Run:
    """A started run: await ``wait()``, read ``status`` and ``report()``, ``cancel()`` it."""

    def __init__(self, records: RunRecords, recording: RunRecording | None = None) -> None:
        self._records = records
        self._recording = recording
        # Created inside the event loop (a Run may be made outside one, e.g. a rejected run).
        self._done_event: anyio.Event | None = None
        self._finished = False
        self._cancel_scope: anyio.CancelScope | None = None
        self._cancel_requested = False
        self._waits: list[WaitRow] = []
        self._parking = False  # its waits are being recorded: it is about to be waiting
        self._recorded = False
        self._recording_pending = False  # a run that ended at once, its row being written
        self._recorded_event: anyio.Event | None = None

    @property
    def id(self) -> str:
        return self._records.run_id

    @property
    def status(self) -> Status:
        return self._records.status

    @property
    def done(self) -> bool:
        return self._finished

    @property
    def outputs(self) -> dict[str, Any]:
        return self._records.outputs

    @property
    def waits(self) -> list[WaitRow]:
        """The open waits of a run whose status is ``waiting`` (empty otherwise)."""
        return self._waits

    @property
    def error(self) -> str | None:
        """The first error message of a failed run."""
        return self._records.first_error

    def report(self) -> Report:
        return self._records.report()

    def node_state(self, node_id: str) -> tuple[Status, int, dict[str, Any] | None, str | None]:
        """A node's status, attempts, outputs and error in this run so far (its last execution), the run's
        secrets shown as ``***``: cheap enough to read on every event."""
        record = self._records.nodes.get(node_id)
        if record is None:
            return Status.PENDING, 0, None, None
        last = record.last_snapshot
        outputs = last.outputs if last is not None else None
        error = last.error if last is not None else None
        shown = self._records.shown
        return record.status, record.attempts, shown(outputs), shown(error)

    async def wait(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109 (the SDK contract)
        """Wait until the run has ended and return its outputs. Raises ``RunFailedError`` if it failed or
        was canceled, ``RunWaitingError`` if it is waiting (``waits`` says for what; ``Engine.resume``
        answers it), ``TimeoutError`` after ``timeout`` seconds (the run goes on)."""
        await self.join(timeout)
        if self._records.status is Status.WAITING:
            raise RunWaitingError(self.id, self._waits)
        if self._records.status is not Status.SUCCEEDED:
            raise RunFailedError(self)
        return self._records.outputs

    async def join(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (as wait)
        """Wait until the run has ended or is waiting (its task ended), whatever its status.
        ``TimeoutError`` after ``timeout`` seconds (the run goes on)."""
        if not self._finished:
            if self._done_event is None:
                self._done_event = anyio.Event()
            with anyio.fail_after(timeout):
                await self._done_event.wait()

    async def recorded(self) -> None:
        """Wait until the run's row is in the engine's store (so every engine sharing the store sees it),
        or the run has ended (its recording failed, or there is no store)."""
        if not self._recorded and (not self._finished or self._recording_pending):
            if self._recorded_event is None:
                self._recorded_event = anyio.Event()
            await self._recorded_event.wait()

    def cancel(self) -> bool:
        """Cancel the run: in-flight nodes stop and become ``canceled``. Idempotent; False if it had
        already ended."""
        if self._finished:
            return False
        self._cancel_requested = True
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        return True

    # the life cycle, driven by the engine that executes the run ----------------------------------------

    @property
    def records(self) -> RunRecords:
        """What the run has done so far (for the engine executing it and for reports)."""
        return self._records

    @property
    def recording(self) -> RunRecording | None:
        """Its store side, when the engine records runs."""
        return self._recording

    @property
    def parking(self) -> bool:
        """Its waits are being recorded: it is about to be ``waiting`` (an answer waits for that)."""
        return self._parking

    def begin(self) -> anyio.CancelScope:
        """The run starts: ``processing`` from now. Returns the scope its execution runs in, already
        cancelled if ``cancel()`` came first."""
        self._records.status = Status.PROCESSING
        self._records.start = time.time()
        self._cancel_scope = anyio.CancelScope()
        if self._cancel_requested:
            self._cancel_scope.cancel()
        return self._cancel_scope

    @property
    def cancel_requested(self) -> bool:
        """Whether the run was cancelled (by ``cancel()`` or from outside its scope)."""
        scope = self._cancel_scope
        return self._cancel_requested or (scope is not None and scope.cancelled_caught)

    def stop(self, reason: str) -> None:
        """Cancel the run for ``reason`` (recorded as an error): e.g. another engine took it over."""
        self._records.error(reason)
        self.cancel()

    def settle(self, status: Status, error: str | None = None) -> None:
        """The run's outcome is known (``status``, and ``error`` if something went wrong outside its
        nodes): its end time is now. It is not done until ``finish()``."""
        if error is not None:
            self._records.error(error)
        self._records.status = status
        self._records.end = time.time()

    def start_parking(self) -> None:
        self._parking = True

    def park(self, waits: list[WaitRow]) -> None:
        """The run waits on ``waits``: its task ends here, as a finished run's does."""
        self._records.status = Status.WAITING
        self._records.end = None
        self._waits = waits
        self._parking = False
        self._done()

    def expect_record(self) -> None:
        """Its row is being written after it ended (a rejected run): ``recorded()`` waits for that."""
        self._recording_pending = True

    def mark_recorded(self) -> None:
        """The run's row is in the store (or there is none): ``recorded()`` returns."""
        self._recorded = True
        if self._recorded_event is not None:
            self._recorded_event.set()

    def finish(self) -> None:
        """The run has ended (its outcome recorded where it is recorded): ``join()`` returns."""
        self._done()

    def _done(self) -> None:
        self._finished = True
        if self._done_event is not None:
            self._done_event.set()
        if self._recorded_event is not None and not self._recording_pending:
            self._recorded_event.set()
