"""flowloom: a fast, durable workflow runtime for Python.

Run flowgram.ai workflow JSON (``await flowloom.run(schema, inputs)``), declare code-first DAGs with
``Pipeline`` and ``@pipeline.task()``, or build an ``Engine`` for full control. ``import flowloom`` stays
light: the server, the CLI and code-first pipelines load on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._api import default_engine, register_executor, run, run_sync, set_default_engine, start, validate
from ._version import __version__
from .engine import (
    CodeLimits,
    Durability,
    Engine,
    EventBus,
    FlowloomError,
    HttpLimits,
    InvalidWorkflowError,
    Lazy,
    NodeContext,
    NodeError,
    NodeExecutor,
    NodeResult,
    Run,
    RunFailedError,
    RunOwnedError,
    Services,
    Traits,
)
from .ir import Report, RunWaitingError, Status, ValidationResult, Wait, WaitError, Workers, Workflow, WorkKey
from .nodes import NodeRegistry

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .pipeline import (
        Pipeline,
        PipelineRun,
        RunCancelledError,
        RunContext,
        RunHook,
        SchedulerConfig,
        TaskRegistry,
        TaskSpec,
        fn_hook,
    )
    from .server import ServerSettings
    from .workers import ThreadWorkers


_PIPELINE_NAMES = frozenset(
    {
        "Pipeline",
        "PipelineRun",
        "RunCancelledError",
        "RunContext",
        "RunHook",
        "SchedulerConfig",
        "TaskRegistry",
        "TaskSpec",
        "fn_hook",
    }
)


def __getattr__(name: str) -> object:
    """Code-first pipeline names load ``flowloom.pipeline`` on first use (a flowgram run never needs it),
    and ``ThreadWorkers`` loads ``flowloom.workers``."""
    if name in _PIPELINE_NAMES:
        from . import pipeline

        return getattr(pipeline, name)
    if name == "ThreadWorkers":  # flowloom.workers loads when asked for
        from .workers import ThreadWorkers

        return ThreadWorkers
    raise AttributeError(f"module 'flowloom' has no attribute {name!r}")


def create_app(engine: Engine | None = None, settings: ServerSettings | None = None) -> FastAPI:
    """The HTTP API as a FastAPI app (see ``flowloom.server``); FastAPI is imported only now."""
    from .server import create_app as _create_app

    return _create_app(engine, settings)


__all__ = [
    "CodeLimits",
    "Durability",
    "Engine",
    "EventBus",
    "FlowloomError",
    "HttpLimits",
    "InvalidWorkflowError",
    "Lazy",
    "NodeContext",
    "NodeError",
    "NodeExecutor",
    "NodeRegistry",
    "NodeResult",
    "Pipeline",
    "PipelineRun",
    "Report",
    "Run",
    "RunCancelledError",
    "RunContext",
    "RunFailedError",
    "RunHook",
    "RunOwnedError",
    "RunWaitingError",
    "SchedulerConfig",
    "Services",
    "Status",
    "TaskRegistry",
    "TaskSpec",
    "ThreadWorkers",
    "Traits",
    "ValidationResult",
    "Wait",
    "WaitError",
    "WorkKey",
    "Workers",
    "Workflow",
    "__version__",
    "create_app",
    "default_engine",
    "fn_hook",
    "register_executor",
    "run",
    "run_sync",
    "set_default_engine",
    "start",
    "validate",
]
