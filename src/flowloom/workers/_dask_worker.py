"""The worker side of ``DaskWorkers``: what runs in a Dask worker process.

Code nodes keep the sandbox's rules on the cluster: each Dask worker thread gets its own ``SandboxPool`` of
one process (a pool serves one event loop at a time), kept by a worker plugin and killed with the worker. A
script runs there under its limits, and a task the client no longer wants (the run or node was canceled,
its timeout struck) kills its script at once: the watcher below sees the worker drop the task.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import anyio
from distributed import WorkerPlugin, get_worker
from distributed.worker import Worker

from flowloom.ir import CodeLanguage, CodeLimits, SandboxError

from ._sandbox import Isolation, SandboxPool

PLUGIN_NAME: Final = "flowloom-sandbox"
_WATCH_S: Final = 0.05  # how often a running script checks that its task is still wanted


class SandboxPlugin(WorkerPlugin):
    """Keeps one ``SandboxPool`` per thread of a Dask worker, made on first use, killed at teardown."""

    idempotent = True  # registered by every client of the cluster: the first one stays

    def __init__(self, *, memory_bytes: int, allowed_imports: frozenset[str], isolation: Isolation) -> None:
        self.memory_bytes = memory_bytes
        self.allowed_imports = allowed_imports
        self.isolation: Isolation = isolation

    def setup(self, worker: Worker) -> None:  # on the worker: what the plugin keeps there
        self._pools: dict[int, SandboxPool] = {}
        self._lock = threading.Lock()

    def pool(self) -> SandboxPool:
        thread = threading.get_ident()
        with self._lock:
            pool = self._pools.get(thread)
            if pool is None:
                pool = SandboxPool(
                    1,
                    memory_bytes=self.memory_bytes,
                    allowed_imports=self.allowed_imports,
                    isolation=self.isolation,
                )
                self._pools[thread] = pool
            return pool

    async def teardown(self, worker: Worker) -> None:  # on the worker's event loop
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def run_code(language: CodeLanguage, source: str, params: Mapping[str, Any], limits: CodeLimits) -> Any:
    """``SandboxPool.run`` in this worker's sandbox: the script's JSON result, or ``SandboxError``."""
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, SandboxPlugin):
        raise SandboxError("this Dask worker has no flowloom sandbox (DaskWorkers registers it)")
    key = worker.get_current_task()
    return anyio.run(_run_watched, worker, key, plugin.pool(), language, source, params, limits)


async def _run_watched(
    worker: Worker,
    key: Any,
    pool: SandboxPool,
    language: CodeLanguage,
    source: str,
    params: Mapping[str, Any],
    limits: CodeLimits,
) -> Any:
    result: Any = None
    error: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while _wanted(worker, key):  # noqa: ASYNC110 (the worker's state is polled, nothing signals)
                await anyio.sleep(_WATCH_S)
            group.cancel_scope.cancel()  # the pool kills the script's process

        group.start_soon(watch)
        try:
            result = await pool.run(language, source, params, limits)
        except Exception as exc:  # raised as it is below, not inside the task group's exception group
            error = exc
        group.cancel_scope.cancel()
    if error is not None:
        raise error
    return result  # None when the task was dropped: nobody reads it


def _wanted(worker: Worker, key: Any) -> bool:
    """Whether the worker still runs ``key`` for someone (a canceled or released task is not wanted)."""
    task = worker.state.tasks.get(key)
    return task is not None and task.state == "executing"
