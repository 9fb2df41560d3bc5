"""``Slots``: how many nodes of one run may run at once."""

from __future__ import annotations

from types import TracebackType

import anyio


class Slots:
    """A run's concurrency limit, entered around each node that takes a slot. A free slot is taken
    without yielding to the event loop: a node that need not wait costs no loop iteration (anyio's
    ``CapacityLimiter`` and ``Semaphore`` checkpoint on every acquire)."""

    __slots__ = ("_semaphore", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self._semaphore = anyio.Semaphore(total, max_value=total, fast_acquire=True)

    async def __aenter__(self) -> None:
        semaphore = self._semaphore
        if semaphore.value:  # a free slot means nobody waits: a release hands slots to waiters first
            semaphore.acquire_nowait()
        else:
            await semaphore.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._semaphore.release()
