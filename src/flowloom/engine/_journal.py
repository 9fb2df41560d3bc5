"""``RunJournal``: how one run is written to a ``RunStore`` as it goes.

A run's transitions (node records and ledger events) are buffered and written in order, one transaction per
flush. What ``commit()`` promises depends on the durability:

- ``transition`` (the default): everything buffered so far is committed before ``commit()`` returns. The
  scheduler commits after each node's completion and before starting its successors, so a crash loses no
  completed node; a node's *start* rides along with the next commit (a node in flight is not yet visible to
  other processes, and runs again on resume either way).
- either way, what waits unwritten for ``TRAIL_S`` while no write happens (a long node's start and log
  lines) is written by the run's trailing flush (``Engine`` runs one per recorded run), so the streams show
  a node in flight within about that time.
- ``batched``: ``commit()`` writes only when ``BATCH_ROWS`` rows are buffered or ``BATCH_INTERVAL_S`` has
  passed since the last write. A crash can lose the transitions of that window: those nodes run again on
  resume (at-least-once execution stays; the record is still exactly-once per node and scope).

The run's own row (status, outputs, error, times) is written at its start and its end, both committed.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

import anyio

from flowloom.ir import (
    EncodedEvents,
    Event,
    LLMDelta,
    NodeEventTexts,
    NodeProgress,
    NodeRow,
    RawJson,
    RunStore,
    Scope,
    Status,
    event_text,
    js_plain,
    json_text,
)

from ._secrets import Masker

BATCH_ROWS = 64
BATCH_INTERVAL_S = 0.25
TRAIL_S = 0.25  # what waited this long unwritten (a long node's start, its log lines) is written anyway
_NOT_LEDGERED = (LLMDelta, NodeProgress)  # token streams and progress ticks are live-only


class Durability(StrEnum):
    TRANSITION = "transition"
    BATCHED = "batched"


class RunJournal:
    """Buffers one run's node records and events and writes them to ``store`` in order."""

    __slots__ = (
        "_events",
        "_last_write",
        "_nodes",
        "_started",
        "_texts",
        "_writing",
        "_written",
        "batched",
        "masker",
        "run_id",
        "store",
    )

    def __init__(self, store: RunStore, run_id: str, durability: Durability) -> None:
        self.store = store
        self.run_id = run_id
        self.batched = durability is Durability.BATCHED
        # keyed by (node, scope): a later transition of the same execution replaces an unwritten earlier one
        self._nodes: dict[tuple[str, Scope], NodeRow] = {}
        # executions started since the last write, by (node, scope): their start time. Most end before the
        # next write, so their "processing" record is made only for those still running then.
        self._started: dict[tuple[str, Scope], float] = {}
        self._events: list[tuple[str, str, float]] = []  # (type, data text, at): see EncodedEvents
        self._texts = NodeEventTexts(run_id)
        self._writing = False  # a write is in flight
        self._written: anyio.Event | None = None  # set when it ends, for flushes waiting on it
        self._last_write = time.monotonic()
        self.masker: Masker | None = None  # the run's secrets, hidden in what is written (see ``_hidden``)

    def node(
        self,
        node_id: str,
        scope: Scope,
        status: Status,
        attempt: int = 1,
        inputs: Any = None,
        outputs: Any = None,
        branch: str | None = None,
        error: str | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        cached: bool = False,
    ) -> None:
        """Record a node execution's state (positional arguments in this order, as ``NodeRow``'s fields).
        Inputs and outputs are encoded now: what is written is the value at this transition."""
        key = (node_id, scope)
        if self._started:
            self._started.pop(key, None)
        inputs_text = None if inputs is None else RawJson(json_text(js_plain(inputs)))
        if outputs is inputs:  # a node passing its inputs on
            outputs_text = inputs_text
        else:
            outputs_text = None if outputs is None else RawJson(json_text(js_plain(outputs)))
        self._nodes[key] = NodeRow(
            self.run_id,
            node_id,
            status,
            scope,
            attempt,
            inputs_text,
            outputs_text,
            branch,
            error,
            started_at,
            ended_at,
            cached,
        )

    def event(self, event: Event) -> None:
        if not isinstance(event, _NOT_LEDGERED):
            self._events.append((type(event).__name__, event_text(event), event.at))

    def node_started(self, node_id: str, node_type: str, scope: Scope, at: float) -> None:
        """A node execution's start: its record (made at the next write if the execution is still running
        then, see ``_started``) and its ``NodeStarted`` event (first attempt)."""
        self._started[node_id, scope] = at
        self._events.append(("NodeStarted", self._texts.started(node_id, node_type, scope, at, 1), at))

    def node_succeeded(
        self,
        node_id: str,
        node_type: str,
        scope: Scope,
        attempt: int,
        inputs: Any,
        outputs: Any,
        branch: str | None,
        started_at: float,
        ended_at: float,
        cached: bool,
    ) -> None:
        """A node execution's success: its record and its ``NodeSucceeded`` event."""
        self.node(
            node_id,
            scope,
            Status.SUCCEEDED,
            attempt,
            inputs,
            outputs,
            branch,
            None,
            started_at,
            ended_at,
            cached,
        )
        text = self._texts.succeeded(
            node_id, node_type, scope, ended_at, ended_at - started_at, branch, cached
        )
        self._events.append(("NodeSucceeded", text, ended_at))

    def _processing(self, node_id: str, scope: Scope, started_at: float) -> NodeRow:
        return NodeRow(
            self.run_id, node_id, Status.PROCESSING, scope, 1, None, None, None, None, started_at, None, False
        )

    def trailing(self) -> bool:
        """Whether something waits unwritten while no write happened for ``TRAIL_S``: a node in flight for
        long, whose start and log lines the streams (and other processes) should see before it ends."""
        return (
            bool(self._events or self._started or self._nodes)
            and not self._writing
            and time.monotonic() - self._last_write >= TRAIL_S
        )

    async def commit(self) -> None:
        """Make what was buffered durable, as the durability promises (see the module)."""
        if self.batched and (
            len(self._nodes) < BATCH_ROWS and time.monotonic() - self._last_write < BATCH_INTERVAL_S
        ):
            return
        await self.flush()

    async def flush(self) -> None:
        """Write everything buffered now, in one transaction. Concurrent flushes write in turn, in order."""
        while self._writing:  # rare: a write of another branch of the run is in flight
            if self._written is None:
                self._written = anyio.Event()
            await self._written.wait()
        if self._started:
            for (node_id, scope), at in self._started.items():
                self._nodes[node_id, scope] = self._processing(node_id, scope, at)
            self._started.clear()
        if not self._nodes and not self._events:
            return
        nodes, self._nodes = self._nodes, {}
        events, self._events = self._events, []
        if (
            self.masker
        ):  # hidden when written: a secret known by then (e.g. read by a later node) is hidden too
            nodes, events = _hidden(self.masker, nodes, events)
        self._writing = True
        try:
            await self.store.record_nodes(list(nodes.values()), EncodedEvents(self.run_id, events))
        except BaseException:
            # put them back in front of what came since, so a later flush still writes them in order
            self._nodes = nodes | self._nodes
            self._events = events + self._events
            raise
        finally:
            self._writing = False
            if self._written is not None:
                self._written.set()
                self._written = None
        self._last_write = time.monotonic()


def _hidden(
    masker: Masker, nodes: dict[tuple[str, Scope], NodeRow], events: list[tuple[str, str, float]]
) -> tuple[dict[tuple[str, Scope], NodeRow], list[tuple[str, str, float]]]:
    """Node records and event texts with the run's secrets replaced by ``***``."""

    def raw(value: Any) -> Any:
        return RawJson(masker.json_text(value)) if type(value) is RawJson else value

    hidden_nodes = {
        key: row._replace(
            inputs=raw(row.inputs),
            outputs=raw(row.outputs),
            error=masker.text(row.error) if row.error else row.error,
        )
        for key, row in nodes.items()
    }
    return hidden_nodes, [(kind, masker.json_text(text), at) for kind, text, at in events]
