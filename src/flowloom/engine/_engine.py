"""``Engine``: compiles workflows (cached), starts and resumes runs, records them in its store; ``Run``: the
handle of one run."""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from flowloom.ir import (
    TIMED_OUT_PAYLOAD,
    FlowloomError,
    InvalidWorkflowError,
    Report,
    RunFinished,
    RunResumed,
    RunRow,
    RunStarted,
    RunStore,
    RunWaiting,
    Status,
    StoreError,
    WaitError,
    WaitRow,
    WaitStatus,
    Workflow,
)

from ._bus import EventBus
from ._cache import ResultCache
from ._journal import TRAIL_S, Durability, RunJournal
from ._leases import DEFAULT_LEASE_TTL_S, new_owner, owner_gone
from ._limits import Slots
from ._plan import CompiledWorkflow, InputCheck, compile_workflow
from ._protocols import ExecutorLookup
from ._records import RunRecords, records_from_rows
from ._resume import downstream_of, restorable_rows, workflow_document, workflow_from_document
from ._run import Run, RunOwnedError, RunRecording
from ._scheduler import Answers, Restored, RunDriver
from ._scope import Globals, Scope
from ._services import Services
from ._structure import structural_errors

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskGroup

logger = logging.getLogger("flowloom.engine")
CANCEL_POLL_S = 1.0  # how often a recorded run looks for a cancel request made by another process


_PLAN_CACHE_SIZE = 256
NO_ANSWER: Any = object()  # ``resume`` without a payload: not an answer to a wait


class Engine:
    """Runs workflows. Build one per application (the composition root) and share it."""

    def __init__(
        self,
        *,
        registry: ExecutorLookup,
        services: Services | None = None,
        bus: EventBus | None = None,
        max_parallel: int = 64,
        store: RunStore | None = None,
        durability: Durability | str = Durability.TRANSITION,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self.registry = registry
        self.services = services or Services()
        self.bus = bus or EventBus()
        self.max_parallel = max_parallel
        self.store = store
        self.durability = Durability(durability)
        self.lease_ttl_s = lease_ttl_s
        self.owner = new_owner()
        self.cache = ResultCache(store)
        self._plans: OrderedDict[object, CompiledWorkflow] = OrderedDict()
        self._documents: weakref.WeakKeyDictionary[CompiledWorkflow, tuple[str, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._stored_hashes: set[str] = set()
        self._active: dict[str, Run] = {}
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
        except BaseExceptionGroup as wrapped:
            # the block's own exception comes back as it was raised, not wrapped in a group
            if exc is not None and len(wrapped.exceptions) == 1 and wrapped.exceptions[0] is exc:
                raise exc from exc.__cause__
            raise
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Release what the engine made (HTTP client, sandbox processes). Runs started later make them
        again on demand."""
        with anyio.CancelScope(shield=True):
            await self.services.aclose()

    def compile(
        self,
        workflow: Workflow,
        cache_key: object | None = None,
        check_inputs: InputCheck | None = None,
        *,
        lenient_node_types: bool = False,
    ) -> CompiledWorkflow:
        """Check ``workflow``'s structure and compile it once; ``cache_key`` (e.g. a content hash) reuses an
        earlier plan. Raises ``InvalidWorkflowError`` naming every problem (duplicate ids, edges to missing
        nodes, cycles, node types without an executor unless ``lenient_node_types``)."""
        if cache_key is not None:
            cached = self._plans.get(cache_key)
            if cached is not None:
                self._plans.move_to_end(cache_key)
                return cached
        errors = structural_errors(workflow, self.registry, lenient_node_types=lenient_node_types)
        if errors:
            raise InvalidWorkflowError(errors)
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
        metadata: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run in the background and return its handle. Needs a running event loop; inside
        ``async with engine`` the run belongs to the engine's task group. With a store, the run is recorded
        (``metadata`` with it)."""
        compiled = workflow if isinstance(workflow, CompiledWorkflow) else self.compile(workflow)
        if compiled.check_inputs is not None:
            errors = compiled.check_inputs(inputs or {})
            if errors:
                return self.start_rejected(errors, inputs, run_id=run_id, metadata=metadata)
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}))
        run = Run(records, self._recording(records.run_id, metadata))
        self._spawn(self._execute, compiled, run, None)
        return run

    def start_rejected(
        self,
        errors: list[str],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Run:
        """A run of a workflow that failed validation: failed at once, its messages the validation
        errors, no node run (deviation D7). With a store and a running loop, it is recorded as such."""
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}))
        for message in errors:
            records.error(message)
        records.status = Status.FAILED
        records.start = records.end = time.time()
        run = Run(records)
        run._mark_finished()
        if self.store is not None and _loop_running():
            self._spawn(self._record_rejected, records, dict(metadata or {}))
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
        await run.join()
        return run

    # resuming ------------------------------------------------------------------------------------------

    async def resume(
        self,
        run_id: str,
        *,
        from_nodes: Sequence[str] | None = None,
        workflow: Workflow | CompiledWorkflow | None = None,
        payload: Any = NO_ANSWER,
        key: str | None = None,
    ) -> Run:
        """Continue a recorded run that did not succeed (it was interrupted, failed or was canceled): its
        succeeded nodes are restored from the store, not run again; the rest runs. The run keeps its id.

        A ``waiting`` run is answered with ``payload`` (any JSON value) for its wait ``key`` (``None``: its
        only open wait): atomically in the store (of concurrent answers exactly one wins; the others, a
        stale or unknown key, get ``WaitError``), then the waiting node runs again with the payload in
        ``ctx.answers``. The answer is stored with the wait: a resumed run whose process dies goes on from
        there on the next ``resume(run_id)``.

        ``from_nodes`` instead starts a *new* run, linked to ``run_id`` as its parent, that runs the named
        nodes and everything downstream of them again and restores the rest (any status, even succeeded).
        ``workflow`` replaces the stored workflow (it must have the same nodes), e.g. to bring callables.

        Raises ``RunOwnedError`` if a live engine is executing the run, ``FlowloomError`` if there is no such
        run or nothing to resume, ``InvalidWorkflowError`` for an unknown node in ``from_nodes``."""
        store = self._require_store()
        row = await store.get_run(run_id)
        if row is None:
            raise FlowloomError(f"no run {run_id!r} in {_where(store)}")
        answering = payload is not NO_ANSWER
        if answering and from_nodes is not None:
            raise FlowloomError("resume answers a wait (payload) or runs nodes again (from_nodes), not both")
        if not answering and from_nodes is None and row.status is Status.WAITING:
            open_keys = [wait.key for wait in await store.get_waits(run_id) if wait.status is WaitStatus.OPEN]
            raise WaitError(
                f"run {run_id} is waiting for an answer (keys: {', '.join(map(repr, open_keys))}): "
                "resume it with a payload"
            )
        compiled = await self._compiled_for(row, workflow)  # before answering: a bad workflow answers nothing
        if answering:
            missing = _missing_types(compiled)
            if missing:
                raise FlowloomError(
                    f"run {run_id} cannot go on in this engine: it has no executor for node type(s) "
                    f"{', '.join(missing)} (resume it where they are registered, e.g. its pipeline)"
                )
            parking = self._active.get(run_id)
            if parking is not None and parking._parking:  # recording its waits here: let it finish first
                await parking.wait()
            answered = await store.answer_wait(
                run_id, key, payload, owner=self.owner, ttl_s=self.lease_ttl_s, now=time.time()
            )
            return await self._continue(compiled, row, answered)
        rows = await store.get_nodes(run_id)
        if from_nodes is not None:
            restored = restorable_rows(rows, downstream_of(compiled, list(from_nodes)))
            records = RunRecords(str(uuid.uuid4()), row.inputs or {})
            metadata = {**row.metadata, "resumed_from": run_id, "from_nodes": list(from_nodes)}
            run = Run(records, self._recording(records.run_id, metadata, parent_run_id=run_id))
            self._spawn(self._execute, compiled, run, restored, True)
            return run
        if row.status is Status.SUCCEEDED:
            raise FlowloomError(
                f"run {run_id} already succeeded: nothing to resume (from_nodes runs nodes of it again)"
            )
        await self._take_lease(store, row)
        return await self._continue(compiled, row, None, rows)

    async def _continue(
        self, compiled: CompiledWorkflow, row: RunRow, answered: WaitRow | None, rows: Any = None
    ) -> Run:
        """Run ``row`` on, in place, under the lease this engine holds: succeeded nodes restored, the
        answers of its waits given to their nodes."""
        store = self._require_store()
        if rows is None:
            rows = await store.get_nodes(row.id)
        recording = self._recording(
            row.id,
            row.metadata,
            parent_run_id=row.parent_run_id,
            resumed=True,
            answered=answered,
            stored_waits=await store.get_waits(row.id),
        )
        run = Run(RunRecords(row.id, row.inputs or {}), recording)
        self._spawn(self._execute, compiled, run, restorable_rows(rows))
        return run

    async def resume_due(self) -> list[Run]:
        """Answer every timed wait that is due (``until`` passed) with ``TIMED_OUT_PAYLOAD`` and resume its
        run here. Engines sharing a store never answer the same wait twice. ``flowloom serve`` calls this
        every ``DUE_CHECK_S`` seconds."""
        store = self._require_store()
        resumed = []
        for wait in await store.due_waits(time.time()):
            try:
                resumed.append(await self.resume(wait.run_id, payload=TIMED_OUT_PAYLOAD, key=wait.key))
            except WaitError:
                continue  # answered first by someone else, or the run has another due wait answered
            except FlowloomError as exc:
                logger.error("cannot resume run %s for its due wait %r: %s", wait.run_id, wait.key, exc)
        return resumed

    async def resume_orphans(self) -> list[Run]:
        """Resume every recorded run left ``processing`` by an engine that is gone (its lease expired, or
        its process on this host died). Engines sharing a store never resume the same run twice."""
        store = self._require_store()
        resumed = []
        now = time.time()
        for row in await store.list_runs(Status.PROCESSING, limit=10_000):
            if row.id in self._active:
                continue
            orphan = row.owner is None or (row.lease_expires_at or 0.0) <= now or owner_gone(row.owner)
            if not orphan:
                continue
            try:
                resumed.append(await self.resume(row.id))
            except RunOwnedError:
                continue  # another engine was quicker
            except FlowloomError as exc:
                logger.error("cannot resume run %s: %s", row.id, exc)
        return resumed

    async def cancel_recorded(self, run_id: str) -> Status:
        """Cancel a run wherever it runs: here at once; in another live process within about a second
        (it sees the request in the store); a run nobody executes any more is marked canceled. Returns the
        status the run had. Raises ``FlowloomError`` for an unknown run."""
        live = self._active.get(run_id)
        if live is not None:
            live.cancel()
            return Status.PROCESSING
        store = self._require_store()
        row = await store.get_run(run_id)
        if row is None:
            raise FlowloomError(f"no run {run_id!r} in {_where(store)}")
        if not row.status.terminated:
            await store.update_run(run_id, status=Status.CANCELED, error="canceled", ended_at=time.time())
        return row.status

    async def stored_report(self, run_id: str) -> Report | None:
        """The report of a run: live from this engine if it runs here, else rebuilt from the store."""
        live = self._active.get(run_id)
        if live is not None:
            return live.report()
        if self.store is None:
            return None
        row = await self.store.get_run(run_id)
        if row is None:
            return None
        return records_from_rows(row, await self.store.get_nodes(run_id)).report()

    def _require_store(self) -> RunStore:
        if self.store is None:
            raise FlowloomError("this engine has no store: runs are not recorded, so none can be resumed")
        return self.store

    async def _compiled_for(
        self, row: RunRow, workflow: Workflow | CompiledWorkflow | None
    ) -> CompiledWorkflow:
        if isinstance(workflow, CompiledWorkflow):
            return workflow
        if workflow is not None:
            return self.compile(workflow)
        assert self.store is not None
        document = await self.store.get_workflow(row.workflow_hash)
        if document is None:
            raise FlowloomError(f"run {row.id}: its workflow {row.workflow_hash[:12]} is not in the store")
        # lenient: the run was accepted when it started; a node type missing here fails when reached
        return self.compile(
            workflow_from_document(document, row.workflow_hash),
            cache_key=row.workflow_hash,
            lenient_node_types=True,
        )

    async def _take_lease(self, store: RunStore, row: RunRow) -> None:
        if row.id in self._active:
            raise RunOwnedError(f"run {row.id} is running in this engine")
        now = time.time()
        if await store.acquire_lease(row.id, self.owner, self.lease_ttl_s, now):
            return
        current = await store.get_run(row.id)
        holder = current.owner if current is not None else None
        if (
            holder is not None
            and owner_gone(holder)
            and await store.take_over_lease(row.id, self.owner, holder, self.lease_ttl_s, now)
        ):
            return
        expires = current.lease_expires_at if current is not None else None
        left = f"; its lease ends in {expires - now:.0f}s" if expires is not None else ""
        raise RunOwnedError(f"run {row.id} is being executed by {holder} (a live process{left})")

    # executing -----------------------------------------------------------------------------------------

    def _recording(
        self,
        run_id: str,
        metadata: Mapping[str, Any] | None,
        *,
        parent_run_id: str | None = None,
        resumed: bool = False,
        answered: WaitRow | None = None,
        stored_waits: list[WaitRow] | None = None,
    ) -> RunRecording | None:
        if self.store is None:
            return None
        journal = RunJournal(self.store, run_id, self.durability)
        return RunRecording(
            journal,
            metadata=metadata,
            parent_run_id=parent_run_id,
            resumed=resumed,
            answered=answered,
            stored_waits=stored_waits,
        )

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
        records = run._records
        recording = run._recording
        records.status = Status.PROCESSING
        records.start = time.time()
        self._active[records.run_id] = run
        if recording is not None:
            try:
                await self._record_start(compiled, records, recording)
            except (StoreError, OSError) as exc:
                self._active.pop(records.run_id, None)
                records.error(f"cannot record the run: {exc}")
                records.status = Status.FAILED
                records.end = time.time()
                run._mark_finished()
                self._emit_finished(records)
                return
        answers: Answers = {}
        open_waits: dict[str, WaitRow] = {}
        if recording is not None:
            for wait in recording.stored_waits:
                if wait.status is WaitStatus.ANSWERED:
                    answers.setdefault((wait.node_id, wait.scope), {})[wait.key] = wait.payload
                else:
                    open_waits[wait.key] = wait
            if recording.answered is not None:
                self._publish_resumed(recording, recording.answered)
        if self.bus.active:
            self.bus.emit(RunStarted(run_id=records.run_id, at=records.start, inputs=records.inputs))
        driver = RunDriver(
            compiled=compiled,
            records=records,
            bus=self.bus,
            services=self.services,
            limiter=Slots(compiled.settings.max_parallel or self.max_parallel),
            root_scope=Scope(Globals(compiled.workflow.global_variables)),
            journal=recording.journal if recording is not None else None,
            cache=self.cache if compiled.uses_cache else None,
            restored=restored,
            copy_restored=copy_restored,
            answers=answers,
            open_waits=open_waits,
        )
        if recording is not None:
            recording.journal.event(
                RunStarted(run_id=records.run_id, at=records.start, inputs=records.inputs)
            )
        run._cancel_scope = anyio.CancelScope()
        if run._cancel_requested:
            run._cancel_scope.cancel()
        interrupted = False
        store_failure: str | None = None
        try:
            with run._cancel_scope:
                if recording is None:
                    await driver.run()
                else:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._keep_lease, run)
                        tg.start_soon(_flush_trailing, recording.journal)
                        await driver.run()
                        tg.cancel_scope.cancel()
        except (StoreError, OSError) as exc:  # the store failed under the run: it cannot go on durably
            store_failure = f"cannot record the run: {exc}"
        except BaseException:  # canceled from outside: the engine closing, the caller's own scope
            interrupted = True
            raise
        finally:
            if store_failure is not None:
                records.error(store_failure)
                records.status = Status.FAILED
            elif interrupted or run._cancel_scope.cancelled_caught or run._cancel_requested:
                records.status = Status.CANCELED
            elif not driver.parked:
                records.status = Status.FAILED if driver.failed else Status.SUCCEEDED
            # a run that parks stays "processing" here until the store has its waits and status
            waiting = records.status is Status.PROCESSING
            records.end = None if waiting else time.time()
            if recording is not None:
                with anyio.CancelScope(shield=True):
                    if waiting:
                        run._parking = True
                        await self._record_waiting(records, recording, driver.waits)
                    else:
                        await self._record_end(records, recording)
            self._active.pop(records.run_id, None)
            if records.status is Status.PROCESSING:  # parked (recording it may have failed the run)
                records.status = Status.WAITING
                run._mark_waiting(driver.waits)
                if self.bus.active:
                    self.bus.emit(_run_waiting(records, driver.waits))
            else:
                run._mark_finished()
                self._emit_finished(records)

    def _emit_finished(self, records: RunRecords) -> None:
        if self.bus.active:
            self.bus.emit(_run_finished(records))

    async def _stored_workflow_hash(self, compiled: CompiledWorkflow) -> str:
        assert self.store is not None
        known = self._documents.get(compiled)
        if known is None:
            known = self._documents[compiled] = workflow_document(compiled.workflow)
        workflow_hash, document = known
        if workflow_hash not in self._stored_hashes:
            await self.store.put_workflow(workflow_hash, document)
            self._stored_hashes.add(workflow_hash)
        return workflow_hash

    async def _record_start(
        self, compiled: CompiledWorkflow, records: RunRecords, recording: RunRecording
    ) -> None:
        assert self.store is not None
        if recording.resumed:
            await self.store.update_run(
                records.run_id, status=Status.PROCESSING, error=None, ended_at=None, started_at=records.start
            )
            return
        now = records.start or time.time()
        await self.store.create_run(
            RunRow(
                id=records.run_id,
                workflow_hash=await self._stored_workflow_hash(compiled),
                status=Status.PROCESSING,
                created_at=now,
                started_at=now,
                inputs=records.inputs,
                metadata=recording.metadata,
                parent_run_id=recording.parent_run_id,
                owner=self.owner,
                lease_expires_at=now + self.lease_ttl_s,
            )
        )

    async def _record_end(self, records: RunRecords, recording: RunRecording) -> None:
        """Write what is left and the run's final state, and let go of the lease. A store that fails now
        leaves the run ``processing`` there (another engine resumes it later); the handle says why."""
        assert self.store is not None
        recording.journal.event(_run_finished(records))
        try:
            await recording.journal.flush()
            await self.store.update_run(
                records.run_id,
                status=records.status,
                outputs=records.outputs,
                error=records.first_error,
                ended_at=records.end,
            )
            await self.store.release_lease(records.run_id, self.owner)
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record its end: %s", records.run_id, exc)
            records.error(f"cannot record the run's end: {exc}")

    async def _record_waiting(
        self, records: RunRecords, recording: RunRecording, waits: list[WaitRow]
    ) -> None:
        """Park the run: its records and ``RunWaiting``, then its waits, then its status, then its lease
        (in this order: an answer finds the run ``waiting`` only once its waits are there). A store that
        fails now leaves the run ``processing`` there (resumed later as any orphan); the run failed here."""
        assert self.store is not None
        recording.journal.event(_run_waiting(records, waits))
        try:
            await recording.journal.flush()
            await self.store.put_waits(waits)
            await self.store.update_run(
                records.run_id, status=Status.WAITING, outputs=records.outputs, error=records.first_error
            )
            await self.store.release_lease(records.run_id, self.owner)
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record that it waits: %s", records.run_id, exc)
            records.error(f"cannot record that the run waits: {exc}")
            records.status = Status.FAILED
            records.end = time.time()

    def _publish_resumed(self, recording: RunRecording, answered: WaitRow) -> None:
        event = RunResumed(
            run_id=answered.run_id,
            at=time.time(),
            key=answered.key,
            node_id=answered.node_id,
            payload=answered.payload,
        )
        recording.journal.event(event)
        if self.bus.active:
            self.bus.emit(event)

    async def _record_rejected(self, records: RunRecords, metadata: dict[str, Any]) -> None:
        assert self.store is not None
        try:
            await self.store.create_run(
                RunRow(
                    id=records.run_id,
                    workflow_hash="",
                    status=Status.FAILED,
                    created_at=records.start or time.time(),
                    started_at=records.start,
                    ended_at=records.end,
                    inputs=records.inputs,
                    error=records.first_error,
                    metadata=metadata,
                )
            )
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record it: %s", records.run_id, exc)

    async def _keep_lease(self, run: Run) -> None:
        """While a recorded run goes on: renew its lease, and stop it when another process asked (through
        the store) to cancel it or took the lease over."""
        assert self.store is not None
        run_id = run.id
        renew_every = self.lease_ttl_s / 3
        next_renewal = time.monotonic() + renew_every
        while True:
            await anyio.sleep(min(CANCEL_POLL_S, renew_every))
            row = await self.store.get_run(run_id)
            if row is not None and row.status is Status.CANCELED:
                run.cancel()
                return
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + renew_every
                if not await self.store.renew_lease(run_id, self.owner, self.lease_ttl_s, time.time()):
                    run._records.error(f"run {run_id}: another engine took it over; stopped here")
                    run.cancel()
                    return


async def _flush_trailing(journal: RunJournal) -> None:
    """While a recorded run goes on: write what waited unwritten for ``TRAIL_S`` (see ``RunJournal``)."""
    while True:
        await anyio.sleep(TRAIL_S)
        if journal.trailing():
            await journal.flush()


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _where(store: RunStore) -> str:
    return str(getattr(store, "location", type(store).__name__))


def _missing_types(compiled: CompiledWorkflow) -> list[str]:
    """Node types of ``compiled`` (blocks included) this engine has no executor for."""
    missing: set[str] = set()
    plans = [compiled.root]
    while plans:
        for cnode in plans.pop().nodes:
            if cnode.executor is None:
                missing.add(cnode.node.type)
            if cnode.block is not None:
                plans.append(cnode.block)
    return sorted(missing)


def _run_waiting(records: RunRecords, waits: list[WaitRow]) -> RunWaiting:
    return RunWaiting(run_id=records.run_id, at=time.time(), waits=[wait.to_json() for wait in waits])


def _run_finished(records: RunRecords) -> RunFinished:
    return RunFinished(
        run_id=records.run_id,
        at=records.end or time.time(),
        status=records.status,
        outputs=records.outputs,
        error=records.first_error,
    )
