"""Which events of a run's ledger to read: by type (or all but some types), about one node, in a range of
sequence numbers, from the start or from the end. The dashboard reads a run's graph without its log lines
and a node's log tail this way, so neither costs what the whole ledger would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOG_EVENT = "NodeLog"
"""The event type of a node's log lines: the bulk of a chatty run's ledger, indexed by node in a store."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventQuery:
    """Events of one run that match every given filter, in ``seq`` order."""

    types: frozenset[str] | None = None
    """Only events of these types (``None``: any type)."""
    exclude: frozenset[str] = frozenset()
    """No events of these types."""
    node_id: str | None = None
    """Only events about this node (a run's own events, such as ``RunStarted``, are about no node)."""
    after: int = 0
    """Only events with ``seq > after``."""
    before: int | None = None
    """Only events with ``seq < before``."""
    newest: bool = False
    """With a limit, the last matching events rather than the first (still returned in ``seq`` order)."""

    @property
    def filtered(self) -> bool:
        """Whether the query leaves out events by type or node (a follower then cannot see gaps)."""
        return self.types is not None or bool(self.exclude) or self.node_id is not None

    def wants_type(self, kind: str) -> bool:
        return (self.types is None or kind in self.types) and kind not in self.exclude

    def matches(self, kind: str, data: Any) -> bool:
        """Whether an event of type ``kind`` with ``data`` (its seq aside) is one the query wants."""
        if not self.wants_type(kind):
            return False
        return self.node_id is None or (isinstance(data, dict) and data.get("node_id") == self.node_id)

    @property
    def logs_of_one_node(self) -> bool:
        """Only log lines of one node: what a store's per-node index of log lines answers."""
        return self.node_id is not None and self.types is not None and self.types <= {LOG_EVENT}
