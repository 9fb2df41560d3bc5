"""How ledger events are laid out in the ``events`` table: one row per event, or one *block* row for several.

A write that appends several events to one run stores them as one row: ``seq`` is the block's last event's
number, ``n_events`` how many it holds (the block is ``seq - n_events + 1 .. seq``), ``type`` is ``*`` and
``data`` a JSON array of ``[type, data, at]`` triples. A single event is a row of its own (``n_events = 1``),
as every event was before schema 0003. Readers see events one by one either way (``expand``); ``max(seq)``
is still a run's last event number.

Why: a batched flush appends hundreds of events; writing them as one row instead of hundreds saves SQLite
most of its per-row work (a b-tree insert and a parameter binding per row), about a third of what recording a
node costs there. The event texts are already JSON (``events_by_run``), so building a block is string joins.
Measured against one row per event by ``bench/tricks.py``: 21-29 % of the batched recording overhead, none
of the per-transition one (bench/README.md, "Speed tricks audited").

Log lines are the exception (schema 0008): consecutive ``NodeLog`` events of one node go to rows of their
own, at most ``LOG_BLOCK`` lines each, typed ``NodeLog`` and with the node in ``node_id`` (NULL in every
other row), which an index covers. So a node's log tail is an index range of a few rows, and a reader
that leaves log lines out (the run page) skips those rows by their ``type`` without reading their data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flowloom.ir import LOG_EVENT, EventQuery, EventRow

from ._codec import loads

BLOCK_TYPE = "*"

LOG_BLOCK = 256  # log lines per row at most: a tail or a page of lines reads a few rows, never a huge one

#: an ``events`` row: run_id, seq, type, data, at, n_events, node_id (the table's column order)
LedgerRow = tuple[str, int, str, str, float, int, str | None]
EventValues = tuple[str, str, float]  # type, data as JSON text, at


def ledger_row(
    run_id: str, first_seq: int, events: Sequence[EventValues], node_id: str | None = None
) -> LedgerRow:
    """The row holding ``events`` (one run's, in order: type, data as JSON text, at) numbered from
    ``first_seq``; ``node_id``: the node whose log lines they all are (see the module)."""
    if len(events) == 1:
        kind, data, at = events[0]
        return (run_id, first_seq, kind, data, at, 1, node_id)
    quoted = _QUOTED
    parts = [
        f"[{quoted.get(kind) or _quoted(kind)},{data},{repr(at) if type(at) is float else _number(at)}]"
        for kind, data, at in events
    ]
    last_seq = first_seq + len(events) - 1
    kind = BLOCK_TYPE if node_id is None else LOG_EVENT
    return (run_id, last_seq, kind, f"[{','.join(parts)}]", events[-1][2], len(events), node_id)


def ledger_rows(run_id: str, first_seq: int, events: Sequence[EventValues]) -> list[LedgerRow]:
    """The rows holding ``events``: one, unless some are log lines (see the module)."""
    if not any(kind == LOG_EVENT for kind, _, _ in events):  # the common case
        return [ledger_row(run_id, first_seq, events)]
    rows = []
    seq = first_seq
    count = len(events)
    i = 0
    while i < count:
        j = i + 1
        node_id = log_node(events[i][1]) if events[i][0] == LOG_EVENT else None
        if node_id is None:
            while j < count and events[j][0] != LOG_EVENT:
                j += 1
        else:
            while (
                j < count
                and j - i < LOG_BLOCK
                and events[j][0] == LOG_EVENT
                and log_node(events[j][1]) == node_id
            ):
                j += 1
        rows.append(ledger_row(run_id, seq, events[i:j], node_id))
        seq += j - i
        i = j
    return rows


_NODE_KEY = '"node_id":'
_DECODER = json.JSONDecoder()


def log_node(data: str) -> str | None:
    """The ``node_id`` of a log line's event data (JSON text), without decoding the whole line."""
    at = data.find(_NODE_KEY)
    if at >= 0:
        try:
            found, _ = _DECODER.raw_decode(data, at + len(_NODE_KEY))
        except ValueError:
            found = None
        if isinstance(found, str):
            return found
    decoded = loads(data)  # another spelling of the JSON (spaces): decode it all
    node_id = decoded.get("node_id") if isinstance(decoded, dict) else None
    return node_id if isinstance(node_id, str) else None


def expand(row: Sequence[Any], after: int, query: EventQuery | None = None) -> list[EventRow]:
    """The events of an ``events`` row (run_id, seq, type, data, at, n_events) numbered above ``after``
    (and, with ``query``, below its ``before`` and matching it)."""
    run_id, seq, kind, data, at, n_events = row[:6]
    before = query.before if query is not None and query.before is not None else seq + 1
    if n_events == 1:
        if seq <= after or seq >= before:
            return []
        event = EventRow(run_id=run_id, seq=seq, type=kind, data=loads(data), at=at)
        return [event] if query is None or query.matches(kind, event.data) else []
    first = seq - n_events + 1
    return [
        EventRow(run_id=run_id, seq=first + i, type=kind_i, data=data_i, at=at_i)
        for i, (kind_i, data_i, at_i) in enumerate(json.loads(data))
        if after < first + i < before and (query is None or query.matches(kind_i, data_i))
    ]


_QUOTED: dict[str, str] = {}  # event type -> its JSON string (a handful of types, each quoted once)


def _quoted(kind: str) -> str:
    text = f'"{kind}"' if kind.isidentifier() else json.dumps(kind)
    if len(_QUOTED) < 256:
        _QUOTED[kind] = text
    return text


def _number(at: float) -> str:
    # times are finite; a float's repr is its JSON text (what json.dumps writes)
    return repr(float(at))
