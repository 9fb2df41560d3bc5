"""What a store holds: frozen rows, the same for every implementation.

Times are seconds since the epoch (``time.time()``), as in ``flowloom.ir`` events. JSON fields (``Json``) hold
any JSON value; see ``flowloom.stores`` for how values that are not JSON are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from flowloom.ir import Status

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


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRow:
    """One execution of a node: a run's node at a scope. Recording it again (a retry, a later transition)
    replaces the previous row for the same (run_id, node_id, scope)."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event to append to a run's ledger; the store numbers it."""

    run_id: str
    type: str
    data: Json
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """An event of a run's ledger. ``seq`` counts from 1 per run, in the order events were appended."""

    run_id: str
    seq: int
    type: str
    data: Json
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """A result-cache entry. ``key`` is a sha256 hex digest; ``expires_at`` ``None`` never expires."""

    key: str
    value: Json
    created_at: float
    expires_at: float | None = None

    def live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


TERMINAL_STATUSES: frozenset[Status] = frozenset(status for status in Status if status.terminated)


def node_order(node: NodeRow) -> tuple[str, Scope]:
    """How ``get_nodes`` orders a run's node records (the same in every store, whatever the collation)."""
    return node.node_id, node.scope
