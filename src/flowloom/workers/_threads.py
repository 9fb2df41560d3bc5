"""``ThreadWorkers``: the default ``Workers``. Python calls run on threads, untrusted code in a sandbox.

Its own threads are a small pool of its own rather than a ``ThreadPoolExecutor`` behind
``loop.run_in_executor``: a pipeline's sync task is a few microseconds of Python, and the library's hand-off
(a concurrent future, a wrapping asyncio future, chained callbacks, an idle-thread semaphore both threads
contend for) made the pipeline sync benchmarks markedly slower (bench/README.md, "Speed tricks audited").
Here a call is one queue put, its result one ``call_soon_threadsafe``, and the bookkeeping stays on the
event loop's thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from functools import partial
from typing import Any, TypeVar, cast

from flowloom.ir import CodeLanguage, CodeLimits, Sandbox, WorkKey

T = TypeVar("T")

_Job = tuple["asyncio.Future[Any]", Callable[[], Any], asyncio.AbstractEventLoop] | None


class ThreadWorkers:
    """Runs ``call``s on at most ``max_workers`` threads, and ``run``s of untrusted code on ``sandbox``.

    Threads start when calls need them (a call while every thread has one starts another, up to the bound)
    and end at ``aclose()``, once the calls given before are done; a later call starts them again.
    ``executor``: a ``concurrent.futures.Executor`` of yours to run calls on instead (``aclose()`` leaves it
    to you). ``sandbox``: a ``Sandbox``, or a function that returns one when code first runs (its owner
    closes it); without one, ``run`` raises ``RuntimeError``.

    Canceling a call that has not started yet means it never runs; one already running on a thread goes on
    there (a thread cannot be interrupted) but its caller is released at once and its result is dropped.
    Use one instance from one event loop at a time (successive loops, as ``flowloom.run_sync`` makes, are
    fine).
    """

    @property
    def remote(self) -> bool:
        """Calls run on this machine."""
        return False

    def __init__(
        self,
        *,
        max_workers: int = 8,
        executor: Executor | None = None,
        sandbox: Sandbox | Callable[[], Sandbox] | None = None,
        name: str = "flowloom-worker",
    ) -> None:
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be an integer >= 1, not {max_workers!r}")
        self.max_workers = max_workers
        self._executor = executor
        # a sandbox or a function that returns one (the engine's Lazy), told apart once
        self._sandbox_of: Callable[[], Sandbox] | None = (
            sandbox if sandbox is None or not hasattr(sandbox, "run") else _constant(cast(Sandbox, sandbox))
        )
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = 0
        self._pending = 0  # calls given and not yet answered (counted on the event loop's thread)

    def call(self, fn: Callable[..., T], /, *args: Any, key: WorkKey | None = None) -> Awaitable[T]:
        """Await ``fn(*args)`` run on a thread: its result, or what it raised. ``key`` is not needed here.
        (A future, not a coroutine: one frame less for a pipeline's sync task.)"""
        job = partial(fn, *args) if args else fn
        if self._executor is not None:
            return asyncio.get_running_loop().run_in_executor(self._executor, _no_stop_iteration, job)
        return self._submit(job)

    def run(
        self,
        language: CodeLanguage,
        source: str,
        params: Mapping[str, Any],
        limits: CodeLimits,
        *,
        key: WorkKey | None = None,
    ) -> Awaitable[Any]:
        """Await untrusted code run on the sandbox (``Sandbox.run``)."""
        sandbox_of = self._sandbox_of
        if sandbox_of is None:
            raise RuntimeError("these ThreadWorkers have no sandbox to run code in: pass sandbox=...")
        return sandbox_of().run(language, source, params, limits)

    async def aclose(self) -> None:
        """Let every thread end once the calls queued before are done (threads still busy finish in the
        background). Safe to repeat; a later call starts threads again."""
        self.shutdown()

    def shutdown(self) -> None:
        """``aclose()`` for sync code (a finalizer)."""
        threads, self._threads = self._threads, 0
        for _ in range(threads):
            self._jobs.put(None)

    async def __aenter__(self) -> ThreadWorkers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the pool ---------------------------------------------------------------------------------------

    def _submit(self, job: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((future, job, loop))
        self._pending += 1
        if self._pending > self._threads and self._threads < self.max_workers:
            self._threads += 1
            thread = threading.Thread(target=self._work, name=f"{self._name}_{self._threads}", daemon=True)
            thread.start()
        return future

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            future, call, loop = job
            result: Any = None
            error: BaseException | None = None
            if not future.cancelled():  # a benign race: at worst a canceled call runs
                try:
                    result = call()
                except StopIteration as exc:  # a future refuses it (the caller would wait forever)
                    error = _stop_iteration_error(exc)
                except BaseException as exc:  # delivered to the awaiting task, like any outcome
                    error = exc
            try:
                loop.call_soon_threadsafe(self._deliver, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _deliver(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        self._pending -= 1
        if future.done():  # canceled meanwhile
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _no_stop_iteration(job: Callable[[], T]) -> T:
    """``job()``, a ``StopIteration`` turned into a ``RuntimeError``, which a future accepts."""
    try:
        return job()
    except StopIteration as exc:
        raise _stop_iteration_error(exc) from exc


def _stop_iteration_error(exc: StopIteration) -> RuntimeError:
    error = RuntimeError(f"the call raised StopIteration: {exc}")
    error.__cause__ = exc
    return error


def _constant(sandbox: Sandbox) -> Callable[[], Sandbox]:
    return lambda: sandbox
