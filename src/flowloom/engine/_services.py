"""Services and limits the composition root injects into node executors.

Expensive resources (an HTTP client, a pool of sandbox processes) are ``Lazy``: made on first use, so
``import flowloom`` and runs that never need them stay fast, and closed when the engine closes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeLimits:
    """Limits of a code node execution (upstream: 32 MB, 512 KB stack, 60 s).

    ``inline_budget_s``: a JavaScript script first runs on the event loop for at most this long; one that
    needs more is restarted in a sandbox worker process under the full ``time_limit_s``, where canceling
    it kills it. Scripts have no host access, so the abandoned first attempt leaves no trace, and short
    scripts skip the hand-off to another process (which costs more than the script). 0: always a worker.
    ``python_memory_bytes``: address-space limit of a sandbox worker process (the interpreter itself
    needs room, so this is larger than the JavaScript heap limit).
    """

    time_limit_s: float = 60.0
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    inline_budget_s: float = 0.005
    python_memory_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Limits of HTTP requests made by nodes."""

    max_response_bytes: int = 10 * 1024 * 1024
    default_timeout_s: float = 60.0


class Sandbox(Protocol):
    """Runs user code in isolation and returns its JSON result. Every failure of the code, its time and
    memory limits included, raises ``flowloom.ir.SandboxError`` whose message says what went wrong; the
    sandbox stays usable. Canceling a call stops the code."""

    async def run(
        self, source: str, params: Mapping[str, Any], *, time_limit_s: float, memory_bytes: int
    ) -> Any:
        """``main(args)`` of a Python script, ``args = {"params": params}``."""

    async def run_javascript(self, source: str, params: Mapping[str, Any], limits: CodeLimits) -> Any:
        """``main({ params })`` of a JavaScript script, as upstream's code node runs it."""

    async def aclose(self) -> None: ...


class Lazy(Generic[T]):
    """A resource made on first ``get()`` and closed by ``aclose()`` (``aclose()`` or ``close()`` of the
    resource). ``Lazy.of(value)`` wraps one made elsewhere, which its owner closes."""

    __slots__ = ("_factory", "_owned", "_value")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory: Callable[[], T] | None = factory
        self._value: T | None = None
        self._owned = True

    @classmethod
    def of(cls, value: T) -> Lazy[T]:
        lazy = cls(lambda: value)
        lazy._value = value
        lazy._owned = False
        return lazy

    @property
    def made(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            if self._factory is None:
                raise RuntimeError("this resource was closed with its engine")
            self._value = self._factory()
        return self._value

    async def aclose(self) -> None:
        value, self._value = self._value, None
        if self._owned:
            self._factory = None
        if value is None or not self._owned:
            return
        closer = getattr(value, "aclose", None) or getattr(value, "close", None)
        if closer is not None:
            result = closer()
            if inspect.isawaitable(result):
                await result


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """What executors may use besides their inputs.

    ``http``: an ``httpx.AsyncClient`` shared by the engine's HTTP and LLM nodes (tests and users may
    pass one with their own transport). ``sandbox``: where code nodes run. ``extra`` holds third-party
    services by name.
    """

    code_limits: CodeLimits = field(default_factory=CodeLimits)
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    http: Lazy[Any] | None = None
    sandbox: Lazy[Sandbox] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Close every resource the engine made."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, Lazy):
                await value.aclose()
