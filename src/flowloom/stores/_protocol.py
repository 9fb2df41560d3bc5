"""The ``RunStore`` protocol: what the engine and the hosts need from durable storage."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Literal, Protocol, Self, TypeAlias

from flowloom.ir import FlowloomError, Status

from ._records import CacheEntry, EventRow, Json, NewEvent, NodeRow, RunRow


class StoreError(FlowloomError):
    """A store cannot do what was asked: it cannot be opened, its schema is unknown, a row it needs is
    missing, or the database failed. The message names the database (never a password); the cause is kept."""


class Unset(enum.Enum):
    """Marks an ``update_run`` field that stays as it is."""

    UNSET = enum.auto()


UNSET = Unset.UNSET
Keep: TypeAlias = Literal[Unset.UNSET]


class RunStore(Protocol):
    """Durable (or in-memory) storage for workflows, runs, node records, event ledgers, cache entries and run
    leases. Every method is a coroutine and every write is one transaction: it is stored whole or not at all.

    A store opens on first use; ``open()`` does so eagerly (and reports a bad database at start-up),
    ``close()`` releases it; ``async with store:`` does both. Times are seconds since the epoch; the caller
    passes ``now``, the store never reads a clock.
    """

    async def open(self) -> None:
        """Connect and bring the schema up to date. Idempotent."""

    async def close(self) -> None:
        """Release connections once calls in flight are done. The store may be opened again."""

    async def __aenter__(self) -> Self:
        """``open()``, then the store."""

    async def __aexit__(self, *exc_info: object) -> None:
        """``close()``."""

    # workflows -------------------------------------------------------------------------------------------

    async def put_workflow(self, workflow_hash: str, workflow: Json) -> None:
        """Store a workflow under its content hash; storing the same hash again is a no-op."""

    async def get_workflow(self, workflow_hash: str) -> Json | None:
        """The workflow stored under ``workflow_hash``, or ``None``."""

    # runs ------------------------------------------------------------------------------------------------

    async def create_run(self, run: RunRow) -> None:
        """Add a run. ``StoreError`` if its id exists."""

    async def get_run(self, run_id: str) -> RunRow | None:
        """The run, or ``None``."""

    async def update_run(
        self,
        run_id: str,
        *,
        status: Status | Keep = UNSET,
        outputs: Json | Keep = UNSET,
        error: str | Keep | None = UNSET,
        started_at: float | Keep | None = UNSET,
        ended_at: float | Keep | None = UNSET,
        metadata: dict[str, Json] | Keep = UNSET,
    ) -> None:
        """Change the given fields of a run. ``StoreError`` if there is no such run."""

    async def list_runs(self, status: Status | None = None, limit: int = 50, offset: int = 0) -> list[RunRow]:
        """Runs, newest (``created_at``) first, optionally only those with ``status``."""

    async def prune_runs(self, *, older_than: float, keep_last: int = 0) -> int:
        """Delete terminated runs created before ``older_than`` with their node records and events, except
        the ``keep_last`` newest runs. Runs still pending or processing are never deleted; a deleted run's
        children lose their ``parent_run_id``. Returns how many runs were deleted."""

    # node records and events -----------------------------------------------------------------------------

    async def record_node(self, node: NodeRow, events: Sequence[NewEvent] = ()) -> list[int]:
        """Upsert one node record and append ``events``, in one transaction. Returns the events' seqs."""

    async def record_nodes(self, nodes: Sequence[NodeRow], events: Sequence[NewEvent] = ()) -> list[int]:
        """Upsert several node records and append ``events``, in one transaction (the batched hot path).
        Returns the events' seqs in order. ``StoreError`` (and nothing written) if a run is unknown."""

    async def get_nodes(self, run_id: str) -> list[NodeRow]:
        """A run's node records, ordered by node id, then scope (``(2,)`` before ``(10,)``)."""

    async def append_events(self, events: Sequence[NewEvent]) -> list[int]:
        """Append events to their runs' ledgers in one transaction. Returns their seqs in order."""

    async def get_events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[EventRow]:
        """A run's events with ``seq > after``, in order."""

    # result cache ----------------------------------------------------------------------------------------

    async def put_cache(self, entry: CacheEntry) -> None:
        """Store (or replace) a cache entry."""

    async def get_cache(self, key: str, now: float) -> CacheEntry | None:
        """The entry under ``key`` unless it is missing or expired at ``now``."""

    async def prune_cache(self, now: float) -> int:
        """Delete entries expired at ``now``; returns how many."""

    # leases ----------------------------------------------------------------------------------------------

    async def acquire_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        """Atomically make ``owner`` the run's lease holder until ``now + ttl_s`` if the run has no owner,
        is already ``owner``'s, or its lease expired. Of concurrent callers at most one wins.
        ``StoreError`` if there is no such run."""

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        """Extend ``owner``'s lease to ``now + ttl_s``; ``False`` if ``owner`` does not hold it.
        ``StoreError`` if there is no such run."""

    async def release_lease(self, run_id: str, owner: str) -> bool:
        """Clear ``owner``'s lease; ``False`` if ``owner`` does not hold it. ``StoreError`` if there is no
        such run."""

    async def runs_to_resume(self, now: float) -> list[RunRow]:
        """Runs still ``processing`` whose lease expired at ``now`` or that have no owner, oldest first."""
