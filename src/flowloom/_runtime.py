"""The composition root: ``flowloom.Engine`` wires the default node registry and reads flowgram sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from . import engine as _engine
from .formats import flowgram
from .ir import (
    FlowgramNodeType,
    InvalidWorkflowError,
    RunStore,
    Sandbox,
    ValidationResult,
    Workers,
    Workflow,
    wire_json,
)
from .nodes import NodeRegistry

WorkflowSource = Workflow | flowgram.Source


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A flowgram source read and checked once (cached by content hash)."""

    schema_errors: list[str]
    compiled: _engine.CompiledWorkflow | None


class RunFailedError(_engine.FlowloomError):
    """``flowloom.run`` of a run that failed or was canceled; ``run`` has the report."""

    def __init__(self, run: _engine.Run) -> None:
        super().__init__(f"run {run.id} {run.status}: {run.error or 'no error message'}")
        self.run = run


class Engine(_engine.Engine):
    """Runs workflows: flowgram JSON (dict, JSON text, path, file) or ``ir.Workflow``.

    ``Engine()`` comes with every built-in node type; pass ``registry`` to choose your own. ``store`` records
    runs (a ``RunStore``, or a database URL such as ``sqlite:///runs.db``, which the engine opens and closes);
    ``durability`` is ``"transition"`` (commit each node's completion before its successors start) or
    ``"batched"``.
    """

    def __init__(
        self,
        *,
        registry: NodeRegistry | None = None,
        services: _engine.Services | None = None,
        bus: _engine.EventBus | None = None,
        max_parallel: int = 64,
        store: RunStore | str | None = None,
        durability: _engine.Durability | str = _engine.Durability.TRANSITION,
        lease_ttl_s: float = _engine.DEFAULT_LEASE_TTL_S,
    ) -> None:
        self._owned_store = _open_store(store) if isinstance(store, str) else None
        super().__init__(
            registry=registry if registry is not None else NodeRegistry.default(),
            services=with_defaults(services or _engine.Services()),
            bus=bus,
            max_parallel=max_parallel,
            store=self._owned_store or (store if not isinstance(store, str) else None),
            durability=durability,
            lease_ttl_s=lease_ttl_s,
        )
        self._loaded: dict[str, _Loaded] = {}

    async def aclose(self) -> None:
        """Release what the engine made: HTTP client, threads, sandbox processes, and a store it opened from
        a URL."""
        await super().aclose()
        if self._owned_store is not None:
            await self._owned_store.close()

    @property
    def nodes(self) -> NodeRegistry:
        assert isinstance(self.registry, NodeRegistry)
        return self.registry

    def register_executor(self, executor: _engine.NodeExecutor, *, replace: bool = False) -> None:
        """Add a node type. Plans compiled before keep the executors they had."""
        self.nodes.register(executor, replace=replace)
        self._loaded.clear()

    def load(self, schema: WorkflowSource) -> _engine.CompiledWorkflow:
        """Read, validate and compile a workflow once, to start it many times. Raises
        ``InvalidWorkflowError`` listing every problem."""
        if isinstance(schema, Workflow):
            return self.compile(schema, check_inputs=_input_check(schema))
        loaded = self._load(schema)
        if loaded.compiled is None:
            raise InvalidWorkflowError(loaded.schema_errors)
        return loaded.compiled

    def validate(
        self, schema: WorkflowSource | _engine.CompiledWorkflow, inputs: Mapping[str, Any] | None = None
    ) -> ValidationResult:
        """Validate a workflow and inputs as upstream's ``TaskValidate`` does. An unreadable source is
        an invalid one."""
        try:
            compiled = schema if isinstance(schema, _engine.CompiledWorkflow) else self.load(schema)
            errors = compiled.check_inputs(inputs or {}) if compiled.check_inputs is not None else []
        except InvalidWorkflowError as exc:
            errors = exc.errors
        # model_construct: the values are ours and well-typed, and validating them would first build
        # pydantic's validator (most of a CLI run's validate step in a fresh process)
        return ValidationResult.model_construct(valid=not errors, errors=errors or None)

    def start(
        self,
        workflow: WorkflowSource | _engine.CompiledWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _engine.Run:
        """Start a run. A workflow that does not validate gives a run that failed at once with the
        validation errors (deviation D7); a source that is not even JSON raises ``InvalidWorkflowError``."""
        if not isinstance(workflow, _engine.CompiledWorkflow | Workflow):
            loaded = self._load(workflow)
            if loaded.compiled is None:
                return self.start_rejected(loaded.schema_errors, inputs, run_id=run_id, metadata=metadata)
            workflow = loaded.compiled
        elif isinstance(workflow, Workflow):
            workflow = self.load(workflow)
        return super().start(workflow, inputs, run_id=run_id, metadata=metadata)

    async def run(
        self, workflow: WorkflowSource | _engine.CompiledWorkflow, inputs: Mapping[str, Any] | None = None
    ) -> _engine.Run:
        """Run to the end and return the finished run (whatever its status)."""
        run = self.start(workflow, inputs)
        await run.wait()
        return run

    async def resume(
        self,
        run_id: str,
        *,
        from_nodes: Sequence[str] | None = None,
        workflow: WorkflowSource | _engine.CompiledWorkflow | None = None,
    ) -> _engine.Run:
        """``flowloom.engine.Engine.resume``; ``workflow`` may also be flowgram JSON (dict, text, path)."""
        if workflow is not None and not isinstance(workflow, _engine.CompiledWorkflow):
            workflow = self.load(workflow)
        return await super().resume(run_id, from_nodes=from_nodes, workflow=workflow)

    def _load(self, source: flowgram.Source) -> _Loaded:
        raw, digest = flowgram.read_source(source)
        loaded = self._loaded.get(digest)
        if loaded is None:
            with _engine.collector_paused():
                errors = flowgram.validate_workflow_json(raw)
                compiled = None
                if not errors:
                    workflow = flowgram.to_workflow(raw)
                    compiled = self.compile(workflow, cache_key=digest, check_inputs=_raw_input_check(raw))
            loaded = _Loaded(errors, compiled)
            if len(self._loaded) >= 256:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[digest] = loaded
        return loaded


def _open_store(url: str) -> RunStore:
    from .stores import SqlStore  # SQLAlchemy loads only for engines that record

    return SqlStore(url)


def with_defaults(services: _engine.Services) -> _engine.Services:
    """``services`` with what it leaves out made on first use: a shared HTTP client, the code sandbox, and
    the workers (threads, and that sandbox for code)."""
    if services.http is None:
        services = replace(services, http=_engine.Lazy(_http_client))
    if services.sandbox is None:
        memory = services.code_limits.python_memory_bytes
        services = replace(services, sandbox=_engine.Lazy(partial(_sandbox, memory)))
    if services.workers is None:
        services = replace(services, workers=_engine.Lazy(partial(_workers, services.sandbox)))
    return services


def _sandbox(memory_bytes: int) -> Sandbox:
    from .workers import SandboxPool  # worker processes start when a script first needs one

    return SandboxPool(memory_bytes=memory_bytes)


def _workers(sandbox: _engine.Lazy[Sandbox] | None) -> Workers:
    from .workers import ThreadWorkers  # threads start when a call first needs one

    return ThreadWorkers(sandbox=sandbox.get if sandbox is not None else None)


def _http_client() -> Any:
    import httpx  # imported on first use: runs without HTTP or LLM nodes never load it

    return httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(60.0))


def _raw_input_check(raw: Any) -> _engine.InputCheck | None:
    """Inputs are checked against the start node's outputs schema as the JSON gives it."""
    start = flowgram.start_node(raw)
    if start is None:
        return None
    data = start.get("data")
    return partial(
        flowgram.validate_inputs, str(start["id"]), data.get("outputs") if isinstance(data, dict) else None
    )


def _input_check(workflow: Workflow) -> _engine.InputCheck | None:
    """Inputs are checked against the start node's outputs schema, as upstream does."""
    start = next((n for n in workflow.nodes if n.type == FlowgramNodeType.START), None)
    if start is None:
        return None
    schema = wire_json(start.outputs) if start.outputs else None
    return partial(flowgram.validate_inputs, start.id, schema)
