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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flowloom.ir import EventRow

from ._codec import loads

BLOCK_TYPE = "*"

#: an ``events`` row: run_id, seq, type, data, at, n_events (the table's column order)
LedgerRow = tuple[str, int, str, str, float, int]


def ledger_row(run_id: str, first_seq: int, events: Sequence[tuple[str, str, float]]) -> LedgerRow:
    """The row holding ``events`` (one run's, in order: type, data as JSON text, at) numbered from
    ``first_seq``."""
    if len(events) == 1:
        kind, data, at = events[0]
        return (run_id, first_seq, kind, data, at, 1)
    quoted = _QUOTED
    parts = [
        f"[{quoted.get(kind) or _quoted(kind)},{data},{repr(at) if type(at) is float else _number(at)}]"
        for kind, data, at in events
    ]
    last_seq = first_seq + len(events) - 1
    return (run_id, last_seq, BLOCK_TYPE, f"[{','.join(parts)}]", events[-1][2], len(events))


def expand(row: Sequence[Any], after: int) -> list[EventRow]:
    """The events of an ``events`` row (its columns in table order) numbered above ``after``."""
    run_id, seq, kind, data, at, n_events = row
    if n_events == 1:
        return [EventRow(run_id=run_id, seq=seq, type=kind, data=loads(data), at=at)]
    first = seq - n_events + 1
    return [
        EventRow(run_id=run_id, seq=first + i, type=kind_i, data=data_i, at=at_i)
        for i, (kind_i, data_i, at_i) in enumerate(json.loads(data))
        if first + i > after
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
