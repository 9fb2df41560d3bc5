"""``ctx.workers``: the engine's ``Workers`` as one node execution sees them, every call keyed by it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

from flowloom.ir import CodeLanguage, CodeLimits, Workers, WorkKey

from ._errors import NodeError
from ._services import Lazy

T = TypeVar("T")

WORKERS_KEY: Final = "workers"
"""A node's data key choosing where its work runs: ``LOCAL_WORKERS`` keeps it on this machine when the
engine's workers are elsewhere (a cluster)."""
LOCAL_WORKERS: Final = "local"


class NodeWorkers:
    """Where a node's blocking, CPU-bound or untrusted work runs (see ``flowloom.ir.Workers``). Each call
    carries ``key``, the node execution (run, node, scope, attempt), so an implementation that places work
    elsewhere (a cluster) can name it without the executor knowing."""

    __slots__ = ("_workers", "key")

    def __init__(self, workers: Lazy[Workers] | None, key: WorkKey) -> None:
        self._workers = workers
        self.key = key

    # Plain functions returning the workers' awaitable: a pipeline's sync task pays no extra frame.

    def call(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]:
        """Await ``fn(*args)`` off the event loop (a thread by default): its result, or what it raised."""
        return self._get().call(fn, *args, key=self.key)

    def run(
        self, language: CodeLanguage, source: str, params: Mapping[str, Any], limits: CodeLimits
    ) -> Awaitable[Any]:
        """Await untrusted code in the sandbox: its JSON result, or ``flowloom.ir.SandboxError``."""
        return self._get().run(language, source, params, limits, key=self.key)

    @property
    def remote(self) -> bool:
        """Whether the work may run on other machines (see ``flowloom.ir.Workers.remote``)."""
        return self._workers is not None and bool(getattr(self._workers.get(), "remote", False))

    def _get(self) -> Workers:
        if self._workers is None:
            raise NodeError("this engine has no workers: give it Services(workers=...)")
        return self._workers.get()
