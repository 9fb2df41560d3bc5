"""Which of a run's events a stream or a read sends: ``types`` (only these), ``exclude`` (all but these) and
``node`` (only events about this node), each type list repeated or comma-separated. The run page streams
everything but log lines (``?exclude=NodeLog``) and its node panel one node's lines
(``?types=NodeLog&node=…``)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flowloom.ir import EventQuery

from ._errors import ApiError

_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
TYPES_HELP = "Only events of these types (repeat, or commas)."
EXCLUDE_HELP = "Leave out events of these types (repeat, or commas), e.g. NodeLog."
NODE_HELP = "Only events about this node (log lines, its transitions)."


def _names(field: str, given: Iterable[str] | None) -> frozenset[str] | None:
    if given is None:
        return None
    names = frozenset(name.strip() for item in given for name in item.split(",") if name.strip())
    for name in sorted(names):
        if not _TYPE.fullmatch(name):
            raise ApiError(400, "BAD_REQUEST", f"{field}: {name[:80]!r} is not an event type name")
    return names


def event_query(
    types: Iterable[str] | None, exclude: Iterable[str] | None, node: str | None
) -> EventQuery | None:
    """The query the parameters ask for; ``None`` when they filter nothing. ``ApiError`` (400) naming the
    parameter when a type name is malformed or ``types`` is given but empty."""
    wanted = _names("types", types)
    if wanted is not None and not wanted:
        raise ApiError(400, "BAD_REQUEST", "types: name at least one event type, or leave it out")
    left_out = _names("exclude", exclude) or frozenset()
    if node is not None and not node.strip():
        raise ApiError(400, "BAD_REQUEST", "node: name a node id, or leave it out")
    query = EventQuery(types=wanted, exclude=left_out, node_id=node)
    return query if query.filtered else None


def socket_event_query(types: list[str], exclude: list[str], node: str | None) -> EventQuery | None:
    """``event_query`` of a WebSocket's query parameters (``getlist`` of each type list)."""
    return event_query(types or None, exclude or None, node)
