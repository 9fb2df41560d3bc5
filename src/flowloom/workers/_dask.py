"""``DaskWorkers``: node work on a Dask cluster (``distributed``), the scheduler and the store staying here.

Each call is one Dask task whose key names the node execution it serves (``flowloom-<run>-<node>-<scope>-
<attempt>-<n>``, ``n`` telling several calls of one execution apart). Dask's own resilience is used: a task
whose worker dies is rerun elsewhere under the same key, and its result comes back once, so the node is
recorded once. Canceling the awaiting task (a run's cancel, a node's timeout) releases the future: a task
not started never starts, and a script already running in a worker's sandbox is killed (a Python call
already running on a worker thread goes on there, as it would on a local thread, its result dropped).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from distributed import Client, Future

from flowloom.ir import CodeLanguage, CodeLimits, WorkKey

from ._dask_worker import PLUGIN_NAME, SandboxPlugin, run_code
from ._sandbox import Isolation

T = TypeVar("T")

ADDRESS_ENV: Final = "FLOWLOOM_DASK_ADDRESS"


class DaskWorkers:
    """``flowloom.ir.Workers`` on a Dask cluster: ``call``s run as Dask tasks (the function and its
    arguments are pickled with cloudpickle), code ``run``s in a sandbox on the worker (RestrictedPython or
    QuickJS, the same limits, a hard kill on timeout or cancel).

    ``cluster``: a ``distributed.Client`` of yours (left open at ``aclose()``), or a scheduler address such
    as ``tcp://host:8786`` (connected on first use, closed at ``aclose()``). The workers need flowloom
    installed. ``memory_bytes``, ``allowed_imports``, ``isolation``: the sandboxes' settings on the workers
    (``flowloom.workers.SandboxPool``), sent to the cluster once as a worker plugin. ``connect_timeout_s``:
    how long connecting to an address may take before the node fails (``ConnectionError``).
    """

    @property
    def remote(self) -> bool:
        """Calls run on the cluster's machines."""
        return True

    def __init__(
        self,
        cluster: Client | str,
        *,
        memory_bytes: int = 512 * 1024 * 1024,
        allowed_imports: frozenset[str] = frozenset(),
        isolation: Isolation = "auto",
        connect_timeout_s: float = 30.0,
    ) -> None:
        if isinstance(cluster, str):
            if not cluster.strip():
                raise ValueError("the Dask scheduler address is empty (expected e.g. tcp://host:8786)")
            self.address = cluster
            self._client: Client | None = None
            self._owns_client = True
        else:
            self.address = str(cluster.scheduler.address) if cluster.scheduler is not None else ""
            self._client = cluster
            self._owns_client = False
        self._plugin = SandboxPlugin(
            memory_bytes=memory_bytes, allowed_imports=frozenset(allowed_imports), isolation=isolation
        )
        self._plugin_sent = False
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._closed = False

    @property
    def client(self) -> Client:
        """The cluster's client, connecting first when given an address (blocking: from a thread)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("these DaskWorkers are closed")
            if self._client is None:
                try:
                    self._client = Client(  # type: ignore[no-untyped-call]
                        self.address, timeout=self._connect_timeout_s, set_as_default=False
                    )
                except (OSError, TimeoutError) as exc:
                    raise ConnectionError(
                        f"cannot reach the Dask scheduler at {self.address}: {exc}"
                    ) from exc
            return self._client

    async def call(self, fn: Callable[..., T], /, *args: Any, key: WorkKey | None = None) -> T:
        """Await ``fn(*args)`` run on the cluster: its result, or what it raised there."""
        client = await self._connected()
        future = client.submit(fn, *args, key=self._task_key(key), pure=False)
        result: T = await self._outcome(future)
        return result

    async def run(
        self,
        language: CodeLanguage,
        source: str,
        params: Mapping[str, Any],
        limits: CodeLimits,
        *,
        key: WorkKey | None = None,
    ) -> Any:
        """Await untrusted code run in a sandbox on the cluster (``Sandbox.run``)."""
        client = await self._connected(sandbox=True)
        future = client.submit(
            run_code, language, source, params, limits, key=self._task_key(key), pure=False
        )
        return await self._outcome(future)

    async def aclose(self) -> None:
        """Close the client if these workers made it. Later calls raise ``RuntimeError``."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            await asyncio.to_thread(client.close)

    async def __aenter__(self) -> DaskWorkers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals ---------------------------------------------------------------------------------------

    async def _connected(self, *, sandbox: bool = False) -> Client:
        client = self._client
        if client is None or (sandbox and not self._plugin_sent):
            client = await asyncio.to_thread(self._connect, sandbox)
        return client

    def _connect(self, sandbox: bool) -> Client:
        client = self.client
        if sandbox and not self._plugin_sent:
            client.register_plugin(self._plugin, name=PLUGIN_NAME)
            self._plugin_sent = True
        return client

    def _task_key(self, key: WorkKey | None) -> str:
        number = next(self._numbers)
        if key is None:
            return f"flowloom-call-{number}"
        scope = ".".join(map(str, key.scope)) or "0"
        return f"flowloom-{key.run_id}-{key.node_id}-{scope}-{key.attempt}-{number}"

    async def _outcome(self, future: Future[Any]) -> Any:
        """The future's result (or error) once it is done; canceling the caller releases the future."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()

        def done(finished: Future[Any]) -> None:  # on Dask's callback thread: reading the result may block
            try:
                outcome: tuple[Any, BaseException | None] = (finished.result(), None)
            except BaseException as exc:  # delivered to the awaiting task, like any outcome
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, waiter, outcome)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

        future.add_done_callback(done)  # type: ignore[no-untyped-call]
        try:
            return await waiter
        except asyncio.CancelledError:
            # the scheduler forgets the task: not started, it never starts; running, it is dropped
            future.release()  # type: ignore[no-untyped-call]
            raise


def _settle(waiter: asyncio.Future[Any], outcome: tuple[Any, BaseException | None]) -> None:
    if waiter.done():
        return
    value, error = outcome
    if error is None:
        waiter.set_result(value)
    else:
        waiter.set_exception(error)
