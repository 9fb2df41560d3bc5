"""Services and limits the composition root injects into node executors.

Expensive resources (an HTTP client, a pool of sandbox processes, threads) are ``Lazy``: made on first use,
so ``import flowloom`` and runs that never need them stay fast, and closed when the engine closes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from flowloom.ir import CodeLimits, Sandbox, SubflowSource, Workers

from ._children import ChildRuns

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Limits of HTTP requests made by nodes."""

    max_response_bytes: int = 10 * 1024 * 1024
    default_timeout_s: float = 60.0


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
    pass one with their own transport). ``workers``: where blocking, CPU-bound or untrusted work runs
    (``ctx.workers``; ``flowloom.ir.Workers``). ``local_workers``: where a node whose data says
    ``"workers": "local"`` runs its work instead (the default threads, when ``workers`` is a cluster).
    ``sandbox``: where the default workers run untrusted code.
    ``browser``: the headless Chromium of ``browser.render`` nodes; ``containers``: the Docker Engine API
    client of ``docker.run`` nodes (both launched or connected on first use, closed with the engine).
    ``subflows``: where subflow nodes find flows their workflow does not carry (``ir.SubflowSource``);
    ``children``: the engine's child runs (``ChildRuns``, set by the engine).
    ``extra`` holds third-party services by name.
    """

    code_limits: CodeLimits = field(default_factory=CodeLimits)
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    http: Lazy[Any] | None = None
    workers: Lazy[Workers] | None = None
    local_workers: Lazy[Workers] | None = None
    sandbox: Lazy[Sandbox] | None = None
    browser: Lazy[Any] | None = None
    containers: Lazy[Any] | None = None
    subflows: SubflowSource | None = None
    children: ChildRuns | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Close every resource the engine made (in field order: the workers before the sandbox they use)."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, Lazy):
                await value.aclose()
