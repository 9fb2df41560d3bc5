"""Helpers every store shares: which statuses are final, and how a run's node records are ordered."""

from __future__ import annotations

from flowloom.ir import NodeRow, Scope, Status

TERMINAL_STATUSES: frozenset[Status] = frozenset(status for status in Status if status.terminated)


def node_order(node: NodeRow) -> tuple[str, Scope]:
    """How ``get_nodes`` orders a run's node records (the same in every store, whatever the collation)."""
    return node.node_id, node.scope
