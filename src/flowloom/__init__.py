"""flowloom: a fast, durable workflow runtime for Python.

Run flowgram.ai workflow JSON (``await flowloom.run(schema, inputs)``) or build an ``Engine`` for full
control. ``import flowloom`` stays light: the server and CLI load on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._api import default_engine, register_executor, run, run_sync, set_default_engine, start, validate
from ._runtime import Engine, RunFailedError
from .engine import (
    CodeLimits,
    Durability,
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
    RunOwnedError,
    Services,
)
from .ir import Report, Status, ValidationResult, Workflow
from .nodes import NodeRegistry

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .server import ServerSettings

__version__ = "0.1.0"


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
    "Report",
    "Run",
    "RunFailedError",
    "RunOwnedError",
    "Services",
    "Status",
    "ValidationResult",
    "Workflow",
    "__version__",
    "create_app",
    "default_engine",
    "register_executor",
    "run",
    "run_sync",
    "set_default_engine",
    "start",
    "validate",
]
