"""``Engine``: compiles workflows (cached) and starts runs; ``Run``: the handle of one run."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup

from flowloom.ir import Report, RunFinished, RunStarted, Status, Workflow

from ._bus import EventBus
from ._plan import CompiledWorkflow, InputCheck, compile_workflow
from ._protocols import ExecutorLookup
from ._records import RunRecords
from ._scheduler import RunDriver
from ._scope import Globals, Scope
from ._services import Services

_PLAN_CACHE_SIZE = 256


class Run:
    """A started run: await ``wait()``, read ``status`` and ``report()``, ``cancel()`` it."""

    def __init__(self, records: RunRecords) -> None:
        self._records = records
        # Created inside the event loop (a Run may be made outside one, e.g. a rejected run).
        self._done_event: anyio.Event | None = None
        self._finished = False
        self._cancel_scope: anyio.CancelScope | None = None
        self._cancel_requested = False

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
    def error(self) -> str | None:
        """The first error message of a failed run."""
        return self._records.first_error

    def report(self) -> Report:
        return self._records.report()

    async def wait(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109 (the SDK contract)
        """Wait until the run has ended and return its outputs. Raises ``TimeoutError`` after ``timeout``
        seconds (the run goes on)."""
        if not self._finished:
            if self._done_event is None:
                self._done_event = anyio.Event()
            with anyio.fail_after(timeout):
                await self._done_event.wait()
        return self._records.outputs

    def cancel(self) -> bool:
        """Cancel the run: in-flight nodes stop and become ``canceled``. Idempotent; False if it had
        already ended."""
        if self._finished:
            return False
        self._cancel_requested = True
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        return True

    def _mark_finished(self) -> None:
        self._finished = True
        if self._done_event is not None:
            self._done_event.set()


class Engine:
    """Runs workflows. Build one per application (the composition root) and share it."""

    def __init__(
        self,
        *,
        registry: ExecutorLookup,
        services: Services | None = None,
        bus: EventBus | None = None,
        max_parallel: int = 64,
    ) -> None:
        self.registry = registry
        self.services = services or Services()
        self.bus = bus or EventBus()
        self.max_parallel = max_parallel
        self._plans: OrderedDict[object, CompiledWorkflow] = OrderedDict()
        self._task_group: TaskGroup | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._task_group = await anyio.create_task_group().__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        group, self._task_group = self._task_group, None
        try:
            return await group.__aexit__(exc_type, exc, tb)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Release what the engine made (HTTP client, sandbox processes). Runs started later make them
        again on demand."""
        with anyio.CancelScope(shield=True):
            await self.services.aclose()

    def compile(
        self, workflow: Workflow, cache_key: object | None = None, check_inputs: InputCheck | None = None
    ) -> CompiledWorkflow:
        """Compile ``workflow`` once; ``cache_key`` (e.g. a content hash) reuses an earlier plan."""
        if cache_key is not None:
            cached = self._plans.get(cache_key)
            if cached is not None:
                self._plans.move_to_end(cache_key)
                return cached
        compiled = compile_workflow(workflow, self.registry, check_inputs)
        if cache_key is not None:
            self._plans[cache_key] = compiled
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return compiled

    def start(
        self,
        workflow: Workflow | CompiledWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> Run:
        """Start a run in the background and return its handle. Needs a running event loop; inside
        ``async with engine`` the run belongs to the engine's task group."""
        compiled = workflow if isinstance(workflow, CompiledWorkflow) else self.compile(workflow)
        if compiled.check_inputs is not None:
            errors = compiled.check_inputs(inputs or {})
            if errors:
                return self.start_rejected(errors, inputs, run_id=run_id)
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}))
        run = Run(records)
        self._spawn(self._execute, compiled, run)
        return run

    def start_rejected(
        self, errors: list[str], inputs: Mapping[str, Any] | None = None, *, run_id: str | None = None
    ) -> Run:
        """A run of a workflow that failed validation: failed at once, its messages the validation
        errors, no node run (deviation D7)."""
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}))
        for message in errors:
            records.error(message)
        records.status = Status.FAILED
        run = Run(records)
        run._mark_finished()
        if self.bus.active:
            self.bus.emit(
                RunFinished(
                    run_id=records.run_id, at=time.time(), status=Status.FAILED, error=records.first_error
                )
            )
        return run

    async def run(
        self, workflow: Workflow | CompiledWorkflow, inputs: Mapping[str, Any] | None = None
    ) -> Run:
        """Run to the end and return the finished handle (whatever its status)."""
        run = self.start(workflow, inputs)
        await run.wait()
        return run

    def _spawn(self, func: Any, *args: Any) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(func, *args)
            return
        task = asyncio.get_running_loop().create_task(func(*args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _execute(self, compiled: CompiledWorkflow, run: Run) -> None:
        records = run._records
        records.status = Status.PROCESSING
        records.start = time.time()
        if self.bus.active:
            self.bus.emit(RunStarted(run_id=records.run_id, at=records.start, inputs=records.inputs))
        driver = RunDriver(
            compiled=compiled,
            records=records,
            bus=self.bus,
            services=self.services,
            limiter=anyio.CapacityLimiter(compiled.settings.max_parallel or self.max_parallel),
            root_scope=Scope(Globals(compiled.workflow.global_variables)),
        )
        run._cancel_scope = anyio.CancelScope()
        if run._cancel_requested:
            run._cancel_scope.cancel()
        interrupted = False
        try:
            with run._cancel_scope:
                await driver.run()
        except BaseException:  # canceled from outside: the engine closing, the caller's own scope
            interrupted = True
            raise
        finally:
            if interrupted or run._cancel_scope.cancelled_caught or run._cancel_requested:
                records.status = Status.CANCELED
            else:
                records.status = Status.FAILED if driver.failed else Status.SUCCEEDED
            records.end = time.time()
            run._mark_finished()
            if self.bus.active:
                self.bus.emit(
                    RunFinished(
                        run_id=records.run_id,
                        at=records.end,
                        status=records.status,
                        outputs=records.outputs,
                        error=records.first_error,
                    )
                )
