"""What a run store holds and does: frozen rows and the ``RunStore`` protocol, shared by the engine (which
records runs) and ``flowloom.stores`` (which implements it).

Times are seconds since the epoch (``time.time()``), as in ``flowloom.ir`` events. JSON fields (``Json``) hold
any JSON value; see ``flowloom.stores`` for how values that are not JSON are stored.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, Self, TypeAlias, overload

from ._constants import Status
from ._definitions import WorkflowDefinition
from ._errors import FlowloomError
from ._eventquery import EventQuery
from ._jsontext import RawJson
from ._runquery import RunQuery
from ._triggers import TriggerFire
from ._waits import WaitRow

Json: TypeAlias = Any
"""A JSON value: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict`` with ``str`` keys."""

Scope: TypeAlias = tuple[int, ...]
"""Loop iteration indexes of a node execution, outermost first; ``()`` outside any loop."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One run of a workflow. ``owner``/``lease_expires_at`` are the lease: set together or not at all."""

    id: str
    workflow_hash: str
    status: Status
    created_at: float
    inputs: Json = None
    outputs: Json = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    metadata: dict[str, Json] = field(default_factory=dict)
    parent_run_id: str | None = None
    owner: str | None = None
    lease_expires_at: float | None = None

    def __post_init__(self) -> None:
        if (self.owner is None) != (self.lease_expires_at is None):
            raise ValueError(f"run {self.id!r}: owner and lease_expires_at must be set together")


class NodeRow(NamedTuple):
    """One execution of a node: a run's node at a scope. Recording it again (a retry, a later transition)
    replaces the previous row for the same (run_id, node_id, scope). (A named tuple, as ``NewEvent``: the
    engine makes one per node transition.)"""

    run_id: str
    node_id: str
    status: Status
    scope: Scope = ()
    attempt: int = 1
    inputs: Json = None
    outputs: Json = None
    branch: str | None = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    cached: bool = False


class NewEvent(NamedTuple):
    """An event to append to a run's ledger; the store numbers it. (A named tuple: the engine makes two per
    node execution, and a tuple is several times cheaper to make than a frozen dataclass.)"""

    run_id: str
    type: str
    data: Json
    at: float


class EncodedEvents(Sequence[NewEvent]):
    """New events of one run whose data is JSON text already, as ``(type, data text, at)`` triples: how a
    run's journal hands its events to a store. It is a sequence of ``NewEvent`` (made on access, data as
    ``RawJson``), so any store takes it; a store may also write ``items`` as they are, as ``SqlStore`` does:
    the ledger keeps event data as text, and a journal buffers two events per node execution."""

    __slots__ = ("items", "run_id")

    def __init__(self, run_id: str, items: list[tuple[str, str, float]]) -> None:
        self.run_id = run_id
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> NewEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[NewEvent]: ...

    def __getitem__(self, index: int | slice) -> NewEvent | list[NewEvent]:
        if isinstance(index, slice):
            return [self._event(item) for item in self.items[index]]
        return self._event(self.items[index])

    def _event(self, item: tuple[str, str, float]) -> NewEvent:
        kind, text, at = item
        return NewEvent(self.run_id, kind, RawJson(text), at)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """An event of a run's ledger. ``seq`` counts from 1 per run, in the order events were appended."""

    run_id: str
    seq: int
    type: str
    data: Json
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSeen:
    """A workflow the store holds runs of: its content hash, how many runs, when the last one was created."""

    hash: str
    runs: int
    last_run_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """A result-cache entry. ``key`` is a sha256 hex digest; ``expires_at`` ``None`` never expires."""

    key: str
    value: Json
    created_at: float
    expires_at: float | None = None

    def live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


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

    async def run_ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` ids of runs that start with ``prefix`` (git-style short ids), in id order."""

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

    async def count_runs(self, status: Status | None = None) -> int:
        """How many runs there are (with ``status``, if given)."""

    async def query_runs(self, query: RunQuery, limit: int = 50) -> list[RunRow]:
        """Runs matching ``query``, newest first by ``(created_at, id)``, at most ``limit`` of them."""

    async def count_runs_by_status(self, query: RunQuery) -> dict[Status, int]:
        """How many runs match ``query`` without its statuses and cursor, per status (absent: none)."""

    async def list_workflows(self, limit: int = 100) -> list[WorkflowSeen]:
        """The workflows runs were started with, the most recently run first."""

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

    async def query_events(self, run_id: str, query: EventQuery, limit: int | None = None) -> list[EventRow]:
        """A run's events that match ``query``, in order: the first ``limit`` of them, or with
        ``query.newest`` the last. A node's log lines are read through an index, and a query that leaves
        log lines out never reads them."""

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

    async def take_over_lease(
        self, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        """``acquire_lease``, and also when the lease is still ``previous_owner``'s: for an owner known to be
        gone (its process died) before its lease expired. Of concurrent callers at most one wins."""

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        """Extend ``owner``'s lease to ``now + ttl_s``; ``False`` if ``owner`` does not hold it.
        ``StoreError`` if there is no such run."""

    async def release_lease(self, run_id: str, owner: str) -> bool:
        """Clear ``owner``'s lease; ``False`` if ``owner`` does not hold it. ``StoreError`` if there is no
        such run."""

    async def runs_to_resume(self, now: float) -> list[RunRow]:
        """Runs still ``processing`` whose lease expired at ``now`` or that have no owner, oldest first."""

    # secrets ---------------------------------------------------------------------------------------------

    async def put_secrets(self, run_id: str, sealed: str) -> None:
        """Keep (or replace) what a resume needs of a run's secrets, ``sealed`` (encrypted) by the engine.
        ``StoreError`` if there is no such run."""

    async def get_secrets(self, run_id: str) -> str | None:
        """What ``put_secrets`` kept for the run, or ``None``."""

    # waits -----------------------------------------------------------------------------------------------

    async def put_waits(self, waits: Sequence[WaitRow]) -> None:
        """Record open waits, in one transaction. A wait recorded again while it is open is replaced; one
        already answered is left as it is. ``StoreError`` (and nothing written) if a run is unknown."""

    async def get_waits(self, run_id: str) -> list[WaitRow]:
        """A run's waits, open and answered, by key."""

    async def answer_wait(
        self, run_id: str, key: str | None, payload: Json, *, owner: str, ttl_s: float, now: float
    ) -> WaitRow:
        """Atomically answer a waiting run: its open wait ``key`` (``None``: its only open wait) is marked
        answered with ``payload``, and the run becomes ``processing`` under ``owner``'s lease until
        ``now + ttl_s``. Of concurrent answers to one run exactly one wins. Returns the answered wait.
        ``WaitError`` (nothing changed) if the run is not ``waiting`` or ``key`` is not one of its open
        waits; ``WaitKeyRequired`` if ``key`` is ``None`` and several are open; ``StoreError`` if there is
        no such run."""

    async def due_waits(self, now: float, limit: int = 100) -> list[WaitRow]:
        """Open waits whose ``until`` is at or before ``now``, of runs that are ``waiting``, soonest first."""

    # saved workflows ---------------------------------------------------------------------------------------

    async def save_definition(self, definition: WorkflowDefinition) -> WorkflowDefinition:
        """Save a workflow under its id, replacing one saved before under that id (whose ``created_at`` is
        kept). Returns what was stored."""

    async def get_definition(self, definition_id: str) -> WorkflowDefinition | None:
        """The workflow saved under ``definition_id``, or ``None``."""

    async def list_definitions(self, limit: int = 1000) -> list[WorkflowDefinition]:
        """Saved workflows, oldest first."""

    async def delete_definition(self, definition_id: str) -> bool:
        """Forget a saved workflow; ``False`` if there was none (runs of it are kept)."""

    # trigger fires: which (saved workflow, trigger, tick) has fired, claimed once among every process

    async def claim_trigger_fire(self, fire: TriggerFire) -> bool:
        """Record that a trigger fired for a tick, unless that (workflow, trigger, tick) was claimed
        already, by this process or another: ``True`` when this claim is the one stored."""

    async def last_trigger_fires(self) -> dict[tuple[str, str], float]:
        """The newest tick claimed per ``(workflow id, trigger key)``."""

    async def prune_trigger_fires(self, older_than: float) -> int:
        """Forget claims of ticks before ``older_than``, except each trigger's newest; how many went."""
