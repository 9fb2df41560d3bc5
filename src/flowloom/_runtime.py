"""The composition root: ``flowloom.Engine`` wires the default node registry and the workflow formats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from . import engine as _engine
from .formats import FormatRegistry, Source, default_formats, read_document
from .formats.flowgram import workflow_input_check
from .ir import InvalidWorkflowError, RunStore, Sandbox, ValidationResult, Workers, Workflow
from .nodes import NodeRegistry

WorkflowSource = Workflow | Source


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A workflow document read and checked once (cached by format and content hash)."""

    schema_errors: list[str]
    compiled: _engine.CompiledWorkflow | None


class Engine(_engine.Engine):
    """Runs workflows: documents of any registered format (dict, JSON text, path, file; the format is
    detected from the content unless named) or ``ir.Workflow``.

    ``Engine()`` comes with every built-in node type and format; pass ``registry`` or ``formats`` to choose
    your own. ``store`` records
    runs (a ``RunStore``, or a database URL such as ``sqlite:///runs.db``, which the engine opens and closes);
    ``durability`` is ``"transition"`` (commit each node's completion before its successors start) or
    ``"batched"``.
    """

    def __init__(
        self,
        *,
        registry: NodeRegistry | None = None,
        formats: FormatRegistry | None = None,
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
        self.formats = formats if formats is not None else default_formats()
        self._loaded: dict[tuple[str | None, str], _Loaded] = {}

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

    def load(self, schema: WorkflowSource, *, format: str | None = None) -> _engine.CompiledWorkflow:
        """Read, validate and compile a workflow once, to start it many times. ``format`` names the
        document's format (default: detected from its content). Raises ``InvalidWorkflowError`` listing
        every problem."""
        if isinstance(schema, Workflow):
            return self.compile(schema, check_inputs=workflow_input_check(schema))
        loaded = self._load(schema, format)
        if loaded.compiled is None:
            raise InvalidWorkflowError(loaded.schema_errors)
        return loaded.compiled

    def validate(
        self,
        schema: WorkflowSource | _engine.CompiledWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        format: str | None = None,
    ) -> ValidationResult:
        """Validate a workflow and inputs as upstream's ``TaskValidate`` does. An unreadable source is
        an invalid one."""
        try:
            compiled = (
                schema if isinstance(schema, _engine.CompiledWorkflow) else self.load(schema, format=format)
            )
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
        format: str | None = None,
    ) -> _engine.Run:
        """Start a run. A document that does not validate gives a run that failed at once with the
        validation errors (deviation D7); a source that is not even JSON, or an ``ir.Workflow`` that does
        not validate, raises ``InvalidWorkflowError``."""
        if not isinstance(workflow, _engine.CompiledWorkflow | Workflow):
            loaded = self._load(workflow, format)
            if loaded.compiled is None:
                return self.start_rejected(loaded.schema_errors, inputs, run_id=run_id, metadata=metadata)
            workflow = loaded.compiled
        elif isinstance(workflow, Workflow):
            workflow = self.load(workflow)
        return super().start(workflow, inputs, run_id=run_id, metadata=metadata)

    async def run(
        self,
        workflow: WorkflowSource | _engine.CompiledWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        format: str | None = None,
    ) -> _engine.Run:
        """Run to the end and return the finished run (whatever its status)."""
        run = self.start(workflow, inputs, format=format)
        await run.join()
        return run

    async def resume(
        self,
        run_id: str,
        *,
        from_nodes: Sequence[str] | None = None,
        workflow: WorkflowSource | _engine.CompiledWorkflow | None = None,
        payload: Any = _engine.NO_ANSWER,
        key: str | None = None,
    ) -> _engine.Run:
        """``flowloom.engine.Engine.resume``; ``workflow`` may also be a document (dict, text, path)."""
        if workflow is not None and not isinstance(workflow, _engine.CompiledWorkflow):
            workflow = self.load(workflow)
        return await super().resume(
            run_id, from_nodes=from_nodes, workflow=workflow, payload=payload, key=key
        )

    def _load(self, source: Source, format: str | None) -> _Loaded:
        document, digest = read_document(source)
        key = (format, digest)
        loaded = self._loaded.get(key)
        if loaded is None:
            with _engine.collector_paused():
                try:
                    read = self.formats.load(document, format)
                    compiled = self.compile(
                        read.workflow,
                        cache_key=key,
                        check_inputs=read.check_inputs,
                        lenient_node_types=read.lenient_node_types,
                    )
                    loaded = _Loaded([], compiled)
                except InvalidWorkflowError as exc:
                    loaded = _Loaded(exc.errors, None)
            if len(self._loaded) >= 256:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[key] = loaded
        return loaded


def _open_store(url: str) -> RunStore:
    from .stores import SqlStore  # SQLAlchemy loads only for engines that record

    return SqlStore(url)


def with_defaults(services: _engine.Services) -> _engine.Services:
    """``services`` with what it leaves out made on first use: a shared HTTP client, the code sandbox, the
    workers (threads, and that sandbox for code), a headless browser and a Docker Engine API client."""
    if services.http is None:
        services = replace(services, http=_engine.Lazy(_http_client))
    if services.sandbox is None:
        memory = services.code_limits.python_memory_bytes
        services = replace(services, sandbox=_engine.Lazy(partial(_sandbox, memory)))
    if services.workers is None:
        services = replace(services, workers=_engine.Lazy(partial(_workers, services.sandbox)))
    if services.browser is None:
        services = replace(services, browser=_engine.Lazy(_browser))
    if services.containers is None:
        services = replace(services, containers=_engine.Lazy(_containers))
    return services


def _browser() -> Any:
    from .nodes.browser import Chromium  # Playwright loads when a browser.render node first runs

    return Chromium()


def _containers() -> Any:
    from .nodes.containers import DockerClient  # connects when a docker.run node first runs

    return DockerClient.from_env()


def _sandbox(memory_bytes: int) -> Sandbox:
    from .workers import SandboxPool  # worker processes start when a script first needs one

    return SandboxPool(memory_bytes=memory_bytes)


def _workers(sandbox: _engine.Lazy[Sandbox] | None) -> Workers:
    from .workers import ThreadWorkers  # threads start when a call first needs one

    return ThreadWorkers(sandbox=sandbox.get if sandbox is not None else None)


def _http_client() -> Any:
    import httpx  # imported on first use: runs without HTTP or LLM nodes never load it

    return httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(60.0))
