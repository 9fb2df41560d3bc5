"""Module-level convenience API over a lazily built default engine (replaceable, e.g. in tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine import Engine, NodeExecutor, Run, WorkflowSource
from .ir import ValidationResult

_default: Engine | None = None


def default_engine() -> Engine:
    """The engine behind ``flowloom.run/start/validate``, built on first use."""
    global _default
    if _default is None:
        _default = Engine()
    return _default


def set_default_engine(engine: Engine | None) -> None:
    """Replace the default engine (``None``: build a fresh one on next use)."""
    global _default
    _default = engine


async def run(schema: WorkflowSource, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run a workflow to the end and return its outputs. Raises ``RunFailedError`` (with the run and its
    report) when it fails or is canceled, ``RunWaitingError`` (with the run id and its open waits) when it
    waits: answer it with ``default_engine().resume(run_id, payload=...)``."""
    return await default_engine().start(schema, inputs).wait()


def start(schema: WorkflowSource, inputs: Mapping[str, Any] | None = None) -> Run:
    """Start a workflow in the background (needs a running event loop) and return its ``Run``."""
    return default_engine().start(schema, inputs)


def run_sync(schema: WorkflowSource, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``run`` for synchronous code. Refuses to run inside an event loop: use ``await flowloom.run``."""
    import asyncio  # here, not at the top: `import flowloom` stays without asyncio until a run

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run(schema, inputs))
    raise RuntimeError(
        "flowloom.run_sync() cannot be called from a running event loop; use `await flowloom.run()`"
    )


def validate(
    schema: WorkflowSource, inputs: Mapping[str, Any] | None = None, *, strict: bool = False
) -> ValidationResult:
    """``Engine.validate`` on the default engine (``strict``: as ``flowloom validate``)."""
    return default_engine().validate(schema, inputs, strict=strict)


def register_executor(executor: NodeExecutor, *, replace: bool = False) -> None:
    """Register a custom node type on the default engine."""
    default_engine().register_executor(executor, replace=replace)
