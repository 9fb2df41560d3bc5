"""``Engine``: the one engine. It reads workflows through its formats, checks and compiles them (cached),
starts, cancels and resumes runs, and records them in its store (``RunRecorder``, ``Leases``). Each run is
a ``Run`` handle that owns its life cycle."""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from flowloom.ir import (
    TIMED_OUT_PAYLOAD,
    FlowloomError,
    NodeRow,
    Report,
    RunRow,
    RunStore,
    Status,
    WaitError,
    WaitRow,
    WaitStatus,
    Workers,
    Workflow,
)

from ._bus import EventBus
from ._cache import ResultCache
from ._children import CHILD_METADATA, EngineChildren, answer_parent
from ._execution import RunExecution
from ._journal import Durability, RunJournal
from ._leases import DEFAULT_LEASE_TTL_S, Leases, new_owner, owner_gone
from ._loading import Loaded, WorkflowLoading, WorkflowSource
from ._plan import CompiledWorkflow, InputCheck
from ._protocols import ExecutorLookup, ExecutorRegistry, FormatLookup, NodeExecutor
from ._recorder import RunRecorder
from ._records import RunRecords, records_from_rows
from ._resume import downstream_of, restorable_rows, workflow_from_document
from ._run import Run, RunOwnedError, RunRecording
from ._secretbox import SecretBox
from ._secrets import Masker, WorkflowSecrets, contains_mask
from ._services import Lazy, Services

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskGroup

logger = logging.getLogger("flowloom.engine")

NO_ANSWER: Any = object()  # ``resume`` without a payload: not an answer to a wait


class Engine(WorkflowLoading, RunExecution):
    """Runs workflows. Build one per application (the composition root) and share it.

    ``registry`` (node types) and ``formats`` default to the built-in ones; ``services`` to an HTTP client,
    the sandbox pool and threads, made on first use. ``store`` records runs (a ``RunStore``, or a database
    URL such as ``sqlite:///runs.db``, which the engine opens and closes); ``durability`` is
    ``"transition"`` (commit each node's completion before its successors start) or ``"batched"``.
    ``workers``: where node work runs (``flowloom.ir.Workers``, yours to close), or a Dask scheduler address
    (``tcp://host:8786``: ``flowloom.workers.DaskWorkers``, closed with the engine); default: threads and
    sandbox processes here, which also serve nodes with ``"workers": "local"``."""

    def __init__(
        self,
        *,
        registry: ExecutorLookup | None = None,
        formats: FormatLookup | None = None,
        services: Services | None = None,
        bus: EventBus | None = None,
        max_parallel: int = 64,
        store: RunStore | str | None = None,
        durability: Durability | str = Durability.TRANSITION,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        workers: Workers | str | None = None,
        secret_box: SecretBox | None = None,
    ) -> None:
        defaults = _defaults()
        services = services or Services()
        if workers is not None:
            if services.workers is not None:
                raise ValueError("give workers= or Services(workers=...), not both")
            services = replace(services, workers=defaults.given_workers(workers, services))
        self.registry: ExecutorLookup = registry if registry is not None else defaults.registry()
        self.formats: FormatLookup = formats if formats is not None else defaults.formats()
        self.services: Services = replace(defaults.services(services), children=EngineChildren(self))
        self.bus = bus or EventBus()
        self.max_parallel = max_parallel
        self._owned_store: RunStore | None = defaults.open_store(store) if isinstance(store, str) else None
        self.store: RunStore | None = self._owned_store or (store if not isinstance(store, str) else None)
        self.durability = Durability(durability)
        self.lease_ttl_s = lease_ttl_s
        self.owner = new_owner()
        self.cache = ResultCache(self.store)
        # what encrypts the runs' secrets in the store: made (its key read or generated) on first need
        self.secret_box: Lazy[SecretBox] = (
            Lazy.of(secret_box) if secret_box is not None else Lazy(defaults.secret_box)
        )
        self._secrets: weakref.WeakKeyDictionary[CompiledWorkflow, WorkflowSecrets] = (
            weakref.WeakKeyDictionary()
        )
        self.recorder = (
            RunRecorder(self.store, self.owner, lease_ttl_s, self.secret_box)
            if self.store is not None
            else None
        )
        self.leases = Leases(self.store, self.owner, lease_ttl_s) if self.store is not None else None
        self._plans: OrderedDict[object, CompiledWorkflow] = OrderedDict()
        self._loaded: dict[tuple[str | None, str], Loaded] = {}
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
        """Release what the engine made: HTTP client, threads, sandbox processes, and a store it opened
        from a URL. Runs started later make them again on demand."""
        with anyio.CancelScope(shield=True):
            await self.services.aclose()
            if self._owned_store is not None:
                await self._owned_store.close()

    @property
    def nodes(self) -> ExecutorRegistry:
        """The node types this engine runs (``FlowloomError`` if its registry cannot list them)."""
        if not isinstance(self.registry, ExecutorRegistry):
            raise FlowloomError(f"this engine's node types ({type(self.registry).__name__}) are fixed")
        return self.registry

    def register_executor(self, executor: NodeExecutor, *, replace: bool = False) -> None:
        """Add a node type. Plans compiled before keep the executors they had."""
        self.nodes.register(executor, replace=replace)
        self._loaded.clear()

    def input_check_of(self, workflow: Workflow) -> InputCheck | None:
        return _defaults().workflow_input_check(workflow)  # type: ignore[no-any-return]

    def secrets_of(self, compiled: CompiledWorkflow) -> WorkflowSecrets:
        """What ``compiled``'s workflow says is secret (its secret inputs and constants), found once."""
        found = self._secrets.get(compiled)
        if found is None:
            found = self._secrets[compiled] = WorkflowSecrets.of(compiled.workflow)
        return found

    def start(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        format: str | None = None,
        parent_run_id: str | None = None,
    ) -> Run:
        """Start a run in the background and return its handle. Needs a running event loop; inside
        ``async with engine`` the run belongs to the engine's task group. With a store, the run is recorded
        (``metadata`` with it). A document that does not validate, or inputs that do not, give a run that
        failed at once with the messages (flowgram's deviation D7); a source that is not even JSON, or an
        ``ir.Workflow`` that does not validate, raises ``InvalidWorkflowError``. ``parent_run_id`` links a
        child run to the run that started it (see ``ChildRuns``)."""
        if isinstance(workflow, CompiledWorkflow | Workflow):
            compiled = self.load(workflow)
        else:
            loaded = self._load(workflow, format)
            if loaded.compiled is None:
                return self.start_rejected(loaded.errors, inputs, run_id=run_id, metadata=metadata)
            compiled = loaded.compiled
        errors = self.input_errors(compiled, inputs)
        secrets = self.secrets_of(compiled)
        if errors:
            return self.start_rejected(errors, inputs, run_id=run_id, metadata=metadata, secrets=secrets)
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}), secrets)
        for message, node_id in compiled.warnings:
            records.warning(message, node_id)
        missing = _missing_types(compiled)
        if missing:  # a lenient format's types that fail when reached: noted, so a resume elsewhere goes on
            metadata = {**(metadata or {}), FAILS_WHEN_REACHED: missing}
        run = Run(records, self._recording(records.run_id, metadata, parent_run_id=parent_run_id))
        self._spawn(self._execute, compiled, run, None)
        return run

    def start_rejected(
        self,
        errors: list[str],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        secrets: WorkflowSecrets | None = None,
    ) -> Run:
        """A run of a workflow that failed validation: failed at once, its messages the validation
        errors, no node run (deviation D7). With a store and a running loop, it is recorded as such
        (``secrets``: what the workflow says is secret, recorded as ``***``)."""
        records = RunRecords(run_id or str(uuid.uuid4()), dict(inputs or {}), secrets)
        run = Run(records)
        for message in errors:
            records.error(message)
        records.start = time.time()
        run.settle(Status.FAILED)
        if self.recorder is not None and _loop_running():
            run.expect_record()  # recorded() waits for its row, written in the background
            self._spawn(self._record_rejected, run, dict(metadata or {}))
        run.finish()
        self._emit_finished(records)
        return run

    async def run(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        format: str | None = None,
    ) -> Run:
        """Run to the end (or until it waits) and return the handle, whatever its status."""
        run = self.start(workflow, inputs, format=format)
        await run.join()
        return run

    # resuming ------------------------------------------------------------------------------------------

    async def resume(
        self,
        run_id: str,
        *,
        from_nodes: Sequence[str] | None = None,
        workflow: WorkflowSource | None = None,
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
        vault = await self._vault(row)
        compiled = await self._compiled_for(
            row, workflow, vault
        )  # before answering: a bad one answers nothing
        if answering:
            accepted = row.metadata.get(FAILS_WHEN_REACHED)
            accepted_types = set(accepted) if isinstance(accepted, list) else set()
            missing = [t for t in _missing_types(compiled) if t not in accepted_types]
            if missing:
                raise FlowloomError(
                    f"run {run_id} cannot go on in this engine: it has no executor for node type(s) "
                    f"{', '.join(missing)} (resume it where they are registered, e.g. its pipeline)"
                )
            parking = self._active.get(run_id)
            if parking is not None and parking.parking:  # recording its waits here: let it finish first
                await parking.join()
            answered = await store.answer_wait(
                run_id, key, payload, owner=self.owner, ttl_s=self.lease_ttl_s, now=time.time()
            )
            return await self._continue(compiled, row, vault, answered)
        rows = await store.get_nodes(run_id)
        if from_nodes is not None:
            records = RunRecords(str(uuid.uuid4()), _inputs(row, vault), self.secrets_of(compiled))
            restored = restorable_rows(
                _revealable(rows, records.masker), downstream_of(compiled, list(from_nodes))
            )
            metadata = {**row.metadata, "resumed_from": run_id, "from_nodes": list(from_nodes)}
            run = Run(records, self._recording(records.run_id, metadata, parent_run_id=run_id))
            self._spawn(self._execute, compiled, run, restored, True)
            return run
        if row.status is Status.SUCCEEDED:
            raise FlowloomError(
                f"run {run_id} already succeeded: nothing to resume (from_nodes runs nodes of it again)"
            )
        if row.id in self._active:
            raise RunOwnedError(f"run {row.id} is running in this engine")
        assert self.leases is not None
        await self.leases.take(row)
        return await self._continue(compiled, row, vault, None, rows)

    async def _continue(
        self,
        compiled: CompiledWorkflow,
        row: RunRow,
        vault: Mapping[str, Any],
        answered: WaitRow | None,
        rows: Any = None,
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
        records = RunRecords(row.id, _inputs(row, vault), self.secrets_of(compiled))
        run = Run(records, recording)
        self._spawn(self._execute, compiled, run, restorable_rows(_revealable(rows, records.masker)))
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

    async def recorded_start(self, run_id: str) -> tuple[CompiledWorkflow, dict[str, Any]]:
        """The workflow and inputs a recorded run started with, its secrets in clear again (from the store's
        encrypted copy): what a new run of the same needs. ``FlowloomError`` for an unknown run."""
        store = self._require_store()
        row = await store.get_run(run_id)
        if row is None:
            raise FlowloomError(f"no run {run_id!r} in {_where(store)}")
        vault = await self._vault(row)
        return await self._compiled_for(row, None, vault), _inputs(row, vault)

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

    async def _vault(self, row: RunRow) -> Mapping[str, Any]:
        """What the store keeps encrypted of the run's secrets (its secret inputs; its workflow, when that
        has secret constants), opened with this engine's key."""
        assert self.store is not None
        sealed = await self.store.get_secrets(row.id)
        if sealed is None:
            return {}
        opened = self.secret_box.get().open(sealed)
        return opened if isinstance(opened, dict) else {}

    async def _compiled_for(
        self, row: RunRow, workflow: WorkflowSource | None, vault: Mapping[str, Any]
    ) -> CompiledWorkflow:
        if workflow is not None:
            return self.load(workflow)
        assert self.store is not None
        # the stored workflow shows its secret constants as ***: the vault has it whole
        document = vault.get("workflow") or await self.store.get_workflow(row.workflow_hash)
        if document is None:
            raise FlowloomError(f"run {row.id}: its workflow {row.workflow_hash[:12]} is not in the store")
        # lenient: the run was accepted when it started; a node type missing here fails when reached
        return self.compile(
            workflow_from_document(document, row.workflow_hash),
            cache_key=row.workflow_hash,
            lenient_node_types=True,
        )

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

    def _after_end(self, run: Run) -> None:
        recording = run.recording
        if recording is not None and recording.parent_run_id and recording.metadata.get(CHILD_METADATA):
            self._spawn(answer_parent, self, run, recording.parent_run_id)


def _inputs(row: RunRow, vault: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded run's inputs, its secret ones (``***`` in the row) taken from its vault."""
    inputs = dict(row.inputs) if isinstance(row.inputs, dict) else {}
    secret = vault.get("inputs")
    if isinstance(secret, dict):
        inputs.update(secret)
    return inputs


def _revealable(rows: list[NodeRow], masker: Masker) -> list[NodeRow]:
    """The records a resume may restore: not those whose outputs had a secret hidden (restored, they would
    give ``***`` to the nodes after them); those executions run again."""
    if not masker:
        return rows
    return [row for row in rows if not contains_mask(row.outputs)]


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _where(store: RunStore) -> str:
    return str(getattr(store, "location", type(store).__name__))


FAILS_WHEN_REACHED = "fails_when_reached"
"""Run metadata: the node types the run started without an executor for (a lenient format's, e.g.
VisualFlow's out-of-scope types), which fail when reached; a resume does not refuse the run for them."""


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


def _defaults() -> ModuleType:
    """The composition root's defaults (node types, formats, services, stores by URL), imported on first
    need: ``flowloom.engine`` itself depends on none of them."""
    import flowloom._defaults

    return flowloom._defaults
