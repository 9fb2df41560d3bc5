"""The contract of where blocking, CPU-bound or untrusted work runs: the ``Workers`` seam node executors use
(``ctx.workers``), the ``Sandbox`` that runs untrusted code, and the data their calls carry. Shared by the
engine (which hands workers to executors) and ``flowloom.workers`` (which implements them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar

from ._store import Scope

T = TypeVar("T")


class CodeLanguage(StrEnum):
    """The languages of code a sandbox runs (a code node's ``script.language``)."""

    JAVASCRIPT = "javascript"
    PYTHON = "python"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeLimits:
    """Limits of a code node execution (upstream: 32 MB, 512 KB stack, 60 s).

    ``time_limit_s``: wall-clock limit of a script, in any language. ``memory_bytes`` and ``stack_bytes``:
    the JavaScript heap and stack. ``inline_budget_s``: a JavaScript script first runs on the event loop for
    at most this long; one that needs more is restarted in a sandbox worker process under the full
    ``time_limit_s``, where canceling it kills it. Scripts have no host access, so the abandoned first
    attempt leaves no trace, and short scripts skip the hand-off to another process (which costs more than
    the script). 0: always a worker. ``python_memory_bytes``: address-space limit of the process running a
    Python script (the interpreter itself needs room, so this is larger than the JavaScript heap limit).
    """

    time_limit_s: float = 60.0
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    inline_budget_s: float = 0.005
    python_memory_bytes: int = 512 * 1024 * 1024


class WorkKey(NamedTuple):
    """The node execution a piece of work serves: unique within a run's life, retries included, so a
    distributed implementation can use it as a task key (a Dask key), for placement or in its logs.
    (A named tuple: one is made per call, and it is cheap to make and to hash.)"""

    run_id: str
    node_id: str
    scope: Scope
    attempt: int


class Sandbox(Protocol):
    """Runs untrusted code in isolation and returns its JSON result.

    Every failure of the code, its time and memory limits included, raises ``flowloom.ir.SandboxError``
    whose message says what went wrong, and the sandbox stays usable. Canceling a call stops the code.
    ``flowloom.workers.SandboxPool`` is the implementation: a warm pool of isolated worker processes.
    """

    async def run(
        self, language: CodeLanguage, source: str, params: Mapping[str, Any], limits: CodeLimits
    ) -> Any:
        """``main({ params })`` of a JavaScript script, as upstream's code node runs it, or ``main(args)``
        of a Python script with ``args = {"params": params}``; returns its result."""

    async def aclose(self) -> None:
        """Stop whatever the sandbox started; later runs raise ``RuntimeError``."""


class Workers(Protocol):
    """Where node work that must not run on the event loop goes: blocking or CPU-bound Python calls, and
    untrusted code. Node executors reach it as ``ctx.workers`` and never start threads or processes of
    their own, so where the work runs (a thread pool, sandbox processes, a cluster) is the composition
    root's choice (``Services(workers=...)``), not the executors'.

    Every call returns an awaitable (``async def`` methods do; a future does too), and cancellation of the
    awaiting task is honoured: work not started yet never
    starts, and the caller is released at once from work that cannot be interrupted (a Python call already
    running on a thread finishes there, its result dropped; sandboxed code is killed). ``key`` names the
    node execution the work serves (``None`` outside a run). ``flowloom.workers.ThreadWorkers`` is the
    default implementation.
    """

    @property
    def remote(self) -> bool:
        """Whether calls may run on other machines (a cluster). An executor that would run a process here
        and stream its output (``shell.exec``) runs it through ``call`` there instead. (An object without
        this attribute is taken as local.)"""

    def call(self, fn: Callable[..., T], /, *args: Any, key: WorkKey | None = None) -> Awaitable[T]:
        """Await ``fn(*args)`` run off the event loop: its result, or what it raised."""

    def run(
        self,
        language: CodeLanguage,
        source: str,
        params: Mapping[str, Any],
        limits: CodeLimits,
        *,
        key: WorkKey | None = None,
    ) -> Awaitable[Any]:
        """Await untrusted code run in a sandbox, as ``Sandbox.run``: its JSON result, or
        ``SandboxError``."""

    async def aclose(self) -> None:
        """Release what the workers started (threads end once their calls are done)."""
