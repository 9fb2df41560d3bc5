"""``TaskThreads``: the threads a pipeline's sync tasks run on, when it is not given an executor.

A task is a few microseconds of Python; handing it to a ``ThreadPoolExecutor`` through
``loop.run_in_executor`` costs far more (a concurrent future, a wrapping asyncio future, chained callbacks,
and an idle-thread semaphore both threads contend for). Here a call is one queue put, its result one
``call_soon_threadsafe``, and the bookkeeping stays on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple["asyncio.Future[Any]", Callable[[], Any], asyncio.AbstractEventLoop] | None


class TaskThreads:
    """Up to ``max_workers`` daemon threads taking calls from one queue; a thread starts when a call
    comes while every thread has one. Use it from one event loop at a time."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = 0
        self._pending = 0  # calls given and not yet answered (counted on the loop's thread only)

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``call`` on a thread; the future (of the running loop) gets its result or exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((future, call, loop))
        self._pending += 1
        if self._pending > self._threads and self._threads < self._max_workers:
            self._threads += 1
            thread = threading.Thread(target=self._work, name=f"{self._name}_{self._threads}", daemon=True)
            thread.start()
        return future

    def shutdown(self) -> None:
        """Let every thread end once the calls queued before are done."""
        threads, self._threads = self._threads, 0
        for _ in range(threads):
            self._jobs.put(None)

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
