"""Where runs are kept: the ``RunStore`` protocol, ``MemoryStore`` and ``SqlStore`` (SQLite or PostgreSQL).

Values (run inputs and outputs, node inputs and outputs, metadata, event data, cache values, workflows) are
stored as JSON. A part of a value that is not JSON-serializable does not fail the write: it is stored as the
placeholder ``{"__unserializable__": "<type name>"}`` (the whole value, if it cannot be encoded at all: a
reference cycle, a non-string dict key). Non-finite floats are kept as Python's ``json`` writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowloom.ir import (
    UNSET,
    CacheEntry,
    EventRow,
    Json,
    NewEvent,
    NodeRow,
    RunRow,
    RunStore,
    Scope,
    StoreError,
    Unset,
)

from ._codec import UNSERIALIZABLE
from ._follow import EventsLost, RunEvents, Wakeup, follow_events
from ._memory import MemoryStore
from ._sql import SqlStore

if TYPE_CHECKING:  # mypy checks that both stores are RunStores

    def _conforms(memory: MemoryStore, sql: SqlStore) -> tuple[RunStore, RunStore]:
        return memory, sql


__all__ = [
    "UNSERIALIZABLE",
    "UNSET",
    "CacheEntry",
    "EventRow",
    "EventsLost",
    "Json",
    "MemoryStore",
    "NewEvent",
    "NodeRow",
    "RunEvents",
    "RunRow",
    "RunStore",
    "Scope",
    "SqlStore",
    "StoreError",
    "Unset",
    "Wakeup",
    "follow_events",
]
