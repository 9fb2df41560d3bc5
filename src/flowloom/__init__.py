"""flowloom: a fast, durable workflow runtime for Python.

Run flowgram.ai workflow JSON (``await flowloom.run(schema, inputs)``) or build an ``Engine`` for full
control. ``import flowloom`` stays light: the server and CLI load on demand.
"""

from __future__ import annotations

from ._api import default_engine, register_executor, run, run_sync, set_default_engine, start, validate
from ._runtime import Engine, RunFailedError
from .engine import (
    CodeLimits,
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
    Services,
)
from .ir import Report, Status, ValidationResult, Workflow
from .nodes import NodeRegistry

__version__ = "0.1.0"

__all__ = [
    "CodeLimits",
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
    "Services",
    "Status",
    "ValidationResult",
    "Workflow",
    "__version__",
    "default_engine",
    "register_executor",
    "run",
    "run_sync",
    "set_default_engine",
    "start",
    "validate",
]
