"""Composition: ``create_app`` wires an engine, the run registry, the routes and the guards;
``FlowloomServer`` runs the app under uvicorn and shuts it down cleanly."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from flowloom._version import __version__
from flowloom.bundles import WorkflowBundleRegistry
from flowloom.engine import Engine, FlowloomError
from flowloom.ir import DUE_CHECK_S

from ._bundles import bundles_router
from ._cron import CronService
from ._errors import CatchAllMiddleware, install_handlers
from ._flowengine import flowengine_router
from ._flowengine_events import FlowengineDialect
from ._logfilter import hide_tokens_in_server_logs
from ._registry import RunRegistry
from ._runs import runs_router
from ._security import SecurityMiddleware
from ._trigger_book import TriggerBook
from ._triggers_api import triggers_router
from ._trpc import trpc_router
from ._upstream import Procedures, upstream_router
from ._workflows import workflows_router
from .ui._pages import mount_ui

logger = logging.getLogger("flowloom.server")
TOKEN_ENV_VAR = "FLOWLOOM_API_TOKEN"
SHUTDOWN_CANCEL_WAIT_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How the HTTP server guards itself and what it keeps. ``ServerSettings.from_env()`` reads the token
    from ``FLOWLOOM_API_TOKEN``."""

    token: str | None = None
    """Bearer token every request but ``GET /info`` must send (``Authorization: Bearer <token>``; the event
    streams also take ``?token=``, since browsers cannot set headers there). ``None``: no auth."""

    max_body_bytes: int = 5 * 1024 * 1024
    """Largest request body accepted; larger ones get 413, judged on ``Content-Length`` and while reading."""

    cors_origins: tuple[str, ...] = ("*",)
    """Origins a browser may call from (``"*"``: any, as upstream; ``()``: same origin only)."""

    retention_max_runs: int = 1000
    """Finished runs kept (with their reports and events); the oldest go first. Running runs are always
    kept."""

    retention_max_age_s: float = 24 * 3600.0
    """Finished runs are forgotten this long after they ended."""

    history_max_age_s: float | None = 30 * 24 * 3600.0
    """With a store: finished runs created longer ago than this are deleted from it (checked every lease
    period), except the newest ``retention_max_runs``. ``None``: keep every run."""

    event_buffer: int = 10_000
    """For an engine without a store: events kept in memory per run, for the streams (a reader that falls
    further behind loses its stream). With a store the streams read its ledger, which keeps every event.
    Also: how many runs an every-run WebSocket may fall behind before it is dropped."""

    bundles_dir: Path | None = None
    """The registry folder of installed ``.flow`` bundles (``/api/v1/bundles``). ``None``:
    ``$FLOWLOOM_BUNDLES_DIR``, else ``bundles`` in the per-user data directory."""

    def __post_init__(self) -> None:
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty (use None for no auth)")
        for name in ("max_body_bytes", "retention_max_runs", "event_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.history_max_age_s is not None and not self.history_max_age_s > 0:
            raise ValueError(f"history_max_age_s must be positive or None, got {self.history_max_age_s}")
        if not self.retention_max_age_s > 0:
            raise ValueError(f"retention_max_age_s must be positive, got {self.retention_max_age_s}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> ServerSettings:
        """Settings with the token from ``FLOWLOOM_API_TOKEN`` (unless ``token`` is given), other
        ``fields`` as given."""
        env = os.environ if environ is None else environ
        if fields.get("token") is None:
            fields["token"] = env.get(TOKEN_ENV_VAR) or None
        return cls(**fields)


def create_app(engine: Engine | None = None, settings: ServerSettings | None = None) -> FastAPI:
    """The flowloom HTTP API as a FastAPI app: upstream flowgram's REST routes and tRPC procedures, the
    runs API and live events. The app runs ``engine`` (default: a new ``Engine()``) for its lifetime: it
    enters ``async with engine`` at startup and, at shutdown, cancels the runs still going and leaves it.
    Serve it with lifespan events on (uvicorn's default). ``settings`` default: ``ServerSettings.from_env()``.
    """
    engine = engine if engine is not None else Engine()
    settings = settings if settings is not None else ServerSettings.from_env()
    registry = RunRegistry(
        engine,
        max_runs=settings.retention_max_runs,
        max_age_s=settings.retention_max_age_s,
        event_buffer=settings.event_buffer,
    )
    procedures = Procedures(registry)
    triggers = TriggerBook(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.attach()
        try:
            async with engine:
                if engine.store is not None:
                    await engine.store.open()  # a bad store stops the server at start-up, with its reason
                try:
                    async with anyio.create_task_group() as housekeeping:
                        if engine.store is not None:
                            housekeeping.start_soon(_keep_store, engine, registry, settings)
                            housekeeping.start_soon(_wake_due_waits, engine, registry)
                            cron = CronService(registry, engine.store, triggers)
                            housekeeping.start_soon(cron.run)
                        try:
                            yield
                        finally:
                            housekeeping.cancel_scope.cancel()
                finally:
                    registry.close_streams()
                    await registry.cancel_active(SHUTDOWN_CANCEL_WAIT_S)
        finally:
            registry.detach()

    app = FastAPI(
        title="flowloom",
        version=__version__,
        description="The flowgram.ai runtime API (REST under /api, tRPC under /trpc) and a runs API.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.registry = registry
    install_handlers(app)
    app.include_router(upstream_router(procedures))
    app.include_router(trpc_router(procedures))
    flowengine_events = FlowengineDialect(registry, engine)
    app.include_router(runs_router(registry, engine, dialects={"flowengine": flowengine_events}))
    app.include_router(workflows_router(registry, engine))
    app.include_router(flowengine_router(registry, engine, flowengine_events))
    app.include_router(bundles_router(registry, engine, WorkflowBundleRegistry(settings.bundles_dir)))
    app.include_router(triggers_router(registry, engine, triggers, settings.token))
    mount_ui(app, settings.token)
    # Added innermost first: CORS (outermost) also covers refusals and 500s.
    app.add_middleware(SecurityMiddleware, token=settings.token, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(
        CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"], allow_headers=["*"]
    )
    return app


async def _keep_store(engine: Engine, registry: RunRegistry, settings: ServerSettings) -> None:
    """With a store, every lease period: resume the runs engines that are gone left unfinished (at
    start-up first), and prune the history."""
    assert engine.store is not None
    while True:
        try:
            for run in await engine.resume_orphans():
                registry.adopt(run)
                logger.info("resumed run %s left unfinished by an engine that is gone", run.id)
            if settings.history_max_age_s is not None:
                await engine.store.prune_runs(
                    older_than=time.time() - settings.history_max_age_s, keep_last=settings.retention_max_runs
                )
        except FlowloomError as exc:
            logger.error("store housekeeping failed: %s", exc)
        await anyio.sleep(engine.lease_ttl_s)


async def _wake_due_waits(engine: Engine, registry: RunRegistry) -> None:
    """With a store, every ``DUE_CHECK_S``: answer the timed waits that are due (of runs started anywhere)
    and run them on here."""
    while True:
        try:
            for run in await engine.resume_due():
                registry.adopt(run)
                logger.info("resumed run %s: its timed wait was due", run.id)
        except FlowloomError as exc:
            logger.error("checking due waits failed: %s", exc)
        await anyio.sleep(DUE_CHECK_S)


class FlowloomServer(uvicorn.Server):
    """uvicorn's server for a flowloom app: at shutdown it first ends the event streams (uvicorn waits for
    open responses before the app's own shutdown), then lets the app cancel its runs."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 4000, **options: Any) -> None:
        options.setdefault("ws_max_size", 64 * 1024)  # clients only listen on the event socket
        options.setdefault("timeout_graceful_shutdown", 10)
        super().__init__(uvicorn.Config(app, host=host, port=port, **options))
        hide_tokens_in_server_logs()  # after the config set up uvicorn's logging
        registry = getattr(app.state, "registry", None)
        self._registry = registry if isinstance(registry, RunRegistry) else None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system when asked for port 0)."""
        for server in self.servers:
            for sock in server.sockets:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    return int(sock.getsockname()[1])
        return self.config.port

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._registry is not None:
            self._registry.close_streams()
        await super().shutdown(sockets)
