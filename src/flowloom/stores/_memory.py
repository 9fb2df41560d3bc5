"""``MemoryStore``: a ``RunStore`` in dictionaries, for tests and runs that need no durability.

Values are kept as their JSON text, as a SQL store keeps them: a caller mutating a value after storing it (or
a row it read) changes nothing stored, and values that are not JSON get the same placeholder. Methods never
await inside, so each one is atomic within its event loop.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from flowloom.ir import (
    LOG_EVENT,
    UNSET,
    CacheEntry,
    EventQuery,
    EventRow,
    Json,
    Keep,
    NewEvent,
    NodeRow,
    RunQuery,
    RunRow,
    Scope,
    Status,
    StoreError,
    TriggerFire,
    WaitRow,
    WaitStatus,
    WorkflowDefinition,
    WorkflowSeen,
)

from ._codec import dumps, loads
from ._ledger import log_node
from ._records import TERMINAL_STATUSES, node_order
from ._runmatch import matches, workflows_seen
from ._waits import chosen_wait, not_waiting


def _replace(row: Any, changes: dict[str, Any]) -> Any:
    return row._replace(**changes) if isinstance(row, NodeRow) else dataclasses.replace(row, **changes)


def _encoded(row: Any, *names: str) -> Any:
    return _replace(row, {name: dumps(getattr(row, name)) for name in names})


def _decoded(row: Any, *names: str) -> Any:
    return _replace(row, {name: loads(getattr(row, name)) for name in names})


_RUN_JSON = ("inputs", "outputs", "metadata")
_NODE_JSON = ("inputs", "outputs")
_WAIT_JSON = ("choices", "details", "payload")


class MemoryStore:
    """A ``RunStore`` that lives as long as the object. See ``RunStore`` for each method."""

    def __init__(self) -> None:
        # rows hold the JSON text of their JSON fields (see _encoded/_decoded)
        self._workflows: dict[str, str] = {}
        self._runs: dict[str, RunRow] = {}
        self._last_seq: dict[str, int] = {}
        self._nodes: dict[str, dict[tuple[str, Scope], NodeRow]] = {}
        self._events: dict[str, list[EventRow]] = {}
        self._logs: dict[str, dict[str, list[int]]] = {}  # by run, then node: the seqs of its log lines
        self._cache: dict[str, CacheEntry] = {}
        self._waits: dict[str, dict[str, WaitRow]] = {}  # by run, then key
        self._definitions: dict[str, WorkflowDefinition] = {}
        self._fires: dict[tuple[str, str, float], TriggerFire] = {}
        self._secrets: dict[str, str] = {}  # by run: its sealed secrets

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    async def put_workflow(self, workflow_hash: str, workflow: Json) -> None:
        self._workflows.setdefault(workflow_hash, dumps(workflow))

    async def get_workflow(self, workflow_hash: str) -> Json | None:
        text = self._workflows.get(workflow_hash)
        return None if text is None else loads(text)

    async def create_run(self, run: RunRow) -> None:
        if run.id in self._runs:
            raise StoreError(f"run {run.id!r} already exists")
        if run.parent_run_id is not None:
            self._run(run.parent_run_id)
        self._runs[run.id] = _encoded(run, *_RUN_JSON)
        self._last_seq[run.id] = 0
        self._nodes[run.id] = {}
        self._events[run.id] = []
        self._logs[run.id] = {}

    async def get_run(self, run_id: str) -> RunRow | None:
        run = self._runs.get(run_id)
        return None if run is None else _decoded(run, *_RUN_JSON)

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
        run = self._run(run_id)
        changes: dict[str, Any] = {"status": status if status is UNSET else Status(status)}
        changes |= {"error": error, "started_at": started_at}
        changes |= {"ended_at": ended_at, "outputs": outputs, "metadata": metadata}
        changes = {name: value for name, value in changes.items() if value is not UNSET}
        for name in ("outputs", "metadata"):
            if name in changes:
                changes[name] = dumps(changes[name])
        self._runs[run_id] = dataclasses.replace(run, **changes)

    async def run_ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        return sorted(run_id for run_id in self._runs if run_id.startswith(prefix))[:limit]

    async def list_runs(self, status: Status | None = None, limit: int = 50, offset: int = 0) -> list[RunRow]:
        runs = [run for run in self._newest_first() if status is None or run.status == status]
        return [_decoded(run, *_RUN_JSON) for run in runs[offset : offset + limit]]

    async def count_runs(self, status: Status | None = None) -> int:
        return sum(1 for run in self._runs.values() if status is None or run.status == status)

    async def query_runs(self, query: RunQuery, limit: int = 50) -> list[RunRow]:
        found: list[RunRow] = []
        for run in self._newest_first():
            if len(found) == limit:
                break
            if matches(run, run.inputs, query):
                found.append(_decoded(run, *_RUN_JSON))
        return found

    async def count_runs_by_status(self, query: RunQuery) -> dict[Status, int]:
        query = query.without_statuses()
        counts: dict[Status, int] = {}
        for run in self._runs.values():
            if matches(run, run.inputs, query):
                counts[run.status] = counts.get(run.status, 0) + 1
        return counts

    async def list_workflows(self, limit: int = 100) -> list[WorkflowSeen]:
        return workflows_seen(self._runs.values(), limit)

    async def prune_runs(self, *, older_than: float, keep_last: int = 0) -> int:
        kept = {run.id for run in self._newest_first()[:keep_last]}
        doomed = [
            run.id
            for run in self._runs.values()
            if run.status in TERMINAL_STATUSES and run.created_at < older_than and run.id not in kept
        ]
        for run_id in doomed:
            del self._runs[run_id], self._last_seq[run_id], self._nodes[run_id], self._events[run_id]
            del self._logs[run_id]
            self._waits.pop(run_id, None)
            self._secrets.pop(run_id, None)
        gone = set(doomed)
        for run in list(self._runs.values()):
            if run.parent_run_id in gone:
                self._runs[run.id] = dataclasses.replace(run, parent_run_id=None)
        return len(doomed)

    async def record_node(self, node: NodeRow, events: Sequence[NewEvent] = ()) -> list[int]:
        return await self.record_nodes((node,), events)

    async def record_nodes(self, nodes: Sequence[NodeRow], events: Sequence[NewEvent] = ()) -> list[int]:
        for run_id in {node.run_id for node in nodes}:
            self._run(run_id)
        seqs = await self.append_events(events)
        for node in nodes:
            self._nodes[node.run_id][node.node_id, node.scope] = _encoded(node, *_NODE_JSON)
        return seqs

    async def get_nodes(self, run_id: str) -> list[NodeRow]:
        nodes = sorted(self._nodes.get(run_id, {}).values(), key=node_order)
        return [_decoded(node, *_NODE_JSON) for node in nodes]

    async def append_events(self, events: Sequence[NewEvent]) -> list[int]:
        for run_id in {event.run_id for event in events}:
            self._run(run_id)
        seqs: list[int] = []
        for event in events:
            seq = self._last_seq[event.run_id] + 1
            self._last_seq[event.run_id] = seq
            row = EventRow(run_id=event.run_id, seq=seq, type=event.type, data=dumps(event.data), at=event.at)
            self._events[event.run_id].append(row)
            node_id = log_node(row.data) if event.type == LOG_EVENT else None
            if node_id is not None:
                self._logs[event.run_id].setdefault(node_id, []).append(seq)
            seqs.append(seq)
        return seqs

    async def get_events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[EventRow]:
        events = self._events.get(run_id, [])[after:]  # seq n is at index n - 1
        return [_decoded(event, "data") for event in events[:limit]]

    async def query_events(self, run_id: str, query: EventQuery, limit: int | None = None) -> list[EventRow]:
        events = self._events.get(run_id, [])
        before = len(events) + 1 if query.before is None else min(query.before, len(events) + 1)
        candidates: Sequence[EventRow]
        if query.logs_of_one_node:  # the node's index
            assert query.node_id is not None
            seqs = self._logs.get(run_id, {}).get(query.node_id, [])
            chosen = seqs[bisect_right(seqs, query.after) : bisect_left(seqs, before)]
            candidates = [events[seq - 1] for seq in chosen]
        else:
            candidates = events[query.after : max(before - 1, query.after)]  # seq n is at index n - 1
        ordered: Iterable[EventRow] = reversed(candidates) if query.newest else candidates
        decoded = (_decoded(event, "data") for event in ordered if query.wants_type(event.type))
        found = list(islice((e for e in decoded if query.matches(e.type, e.data)), limit))
        return found[::-1] if query.newest else found

    async def put_cache(self, entry: CacheEntry) -> None:
        self._cache[entry.key] = _encoded(entry, "value")

    async def get_cache(self, key: str, now: float) -> CacheEntry | None:
        entry = self._cache.get(key)
        return _decoded(entry, "value") if entry is not None and entry.live(now) else None

    async def prune_cache(self, now: float) -> int:
        expired = [key for key, entry in self._cache.items() if not entry.live(now)]
        for key in expired:
            del self._cache[key]
        return len(expired)

    async def acquire_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        run = self._run(run_id)
        free = run.owner is None or run.owner == owner or (run.lease_expires_at or 0.0) <= now
        if free:
            self._runs[run_id] = dataclasses.replace(run, owner=owner, lease_expires_at=now + ttl_s)
        return free

    async def take_over_lease(
        self, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        if self._run(run_id).owner == previous_owner:
            await self.release_lease(run_id, previous_owner)
        return await self.acquire_lease(run_id, owner, ttl_s, now)

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        run = self._run(run_id)
        if run.owner != owner:
            return False
        self._runs[run_id] = dataclasses.replace(run, lease_expires_at=now + ttl_s)
        return True

    async def release_lease(self, run_id: str, owner: str) -> bool:
        run = self._run(run_id)
        if run.owner != owner:
            return False
        self._runs[run_id] = dataclasses.replace(run, owner=None, lease_expires_at=None)
        return True

    async def runs_to_resume(self, now: float) -> list[RunRow]:
        runs = [
            run
            for run in reversed(self._newest_first())
            if run.status == Status.PROCESSING and (run.owner is None or (run.lease_expires_at or 0.0) <= now)
        ]
        return [_decoded(run, *_RUN_JSON) for run in runs]

    async def put_secrets(self, run_id: str, sealed: str) -> None:
        self._run(run_id)
        self._secrets[run_id] = sealed

    async def get_secrets(self, run_id: str) -> str | None:
        return self._secrets.get(run_id)

    async def put_waits(self, waits: Sequence[WaitRow]) -> None:
        for run_id in {wait.run_id for wait in waits}:
            self._run(run_id)
        for wait in waits:
            kept = self._waits.setdefault(wait.run_id, {})
            known = kept.get(wait.key)
            if known is None or known.status is WaitStatus.OPEN:
                kept[wait.key] = _encoded(wait, *_WAIT_JSON)

    async def get_waits(self, run_id: str) -> list[WaitRow]:
        waits = sorted(self._waits.get(run_id, {}).values(), key=lambda wait: wait.key)
        return [_decoded(wait, *_WAIT_JSON) for wait in waits]

    async def answer_wait(
        self, run_id: str, key: str | None, payload: Json, *, owner: str, ttl_s: float, now: float
    ) -> WaitRow:
        run = self._run(run_id)
        if run.status is not Status.WAITING:
            raise not_waiting(run_id, run.status)
        wait = chosen_wait(run_id, await self.get_waits(run_id), key)
        answered = dataclasses.replace(wait, status=WaitStatus.ANSWERED, payload=payload, answered_at=now)
        self._waits[run_id][wait.key] = _encoded(answered, *_WAIT_JSON)
        self._runs[run_id] = dataclasses.replace(
            run, status=Status.PROCESSING, owner=owner, lease_expires_at=now + ttl_s
        )
        result: WaitRow = _decoded(self._waits[run_id][wait.key], *_WAIT_JSON)
        return result

    async def due_waits(self, now: float, limit: int = 100) -> list[WaitRow]:
        due = [
            wait
            for run_id, waits in self._waits.items()
            if self._runs[run_id].status is Status.WAITING
            for wait in waits.values()
            if wait.status is WaitStatus.OPEN and wait.until is not None and wait.until <= now
        ]
        due.sort(key=lambda wait: (wait.until, wait.run_id, wait.key))
        return [_decoded(wait, *_WAIT_JSON) for wait in due[:limit]]

    def _run(self, run_id: str) -> RunRow:
        run = self._runs.get(run_id)
        if run is None:
            raise StoreError(f"unknown run {run_id!r}")
        return run

    def _newest_first(self) -> list[RunRow]:
        return sorted(self._runs.values(), key=lambda run: (run.created_at, run.id), reverse=True)

    # saved workflows -----------------------------------------------------------------------------------

    async def save_definition(self, definition: WorkflowDefinition) -> WorkflowDefinition:
        kept = self._definitions.get(definition.id)
        if kept is not None:
            definition = dataclasses.replace(definition, created_at=kept.created_at)
        stored = dataclasses.replace(definition, document=dumps(definition.document))
        self._definitions[definition.id] = stored
        return definition

    async def get_definition(self, definition_id: str) -> WorkflowDefinition | None:
        stored = self._definitions.get(definition_id)
        return None if stored is None else _decoded(stored, "document")

    async def list_definitions(self, limit: int = 1000) -> list[WorkflowDefinition]:
        oldest_first = sorted(self._definitions.values(), key=lambda d: (d.created_at, d.id))
        return [_decoded(stored, "document") for stored in oldest_first[:limit]]

    async def delete_definition(self, definition_id: str) -> bool:
        return self._definitions.pop(definition_id, None) is not None

    # trigger fires -------------------------------------------------------------------------------------

    async def claim_trigger_fire(self, fire: TriggerFire) -> bool:
        key = (fire.workflow_id, fire.trigger_key, fire.tick)
        if key in self._fires:
            return False
        self._fires[key] = fire
        return True

    async def last_trigger_fires(self) -> dict[tuple[str, str], float]:
        newest: dict[tuple[str, str], float] = {}
        for workflow_id, trigger_key, tick in self._fires:
            newest[workflow_id, trigger_key] = max(tick, newest.get((workflow_id, trigger_key), tick))
        return newest

    async def prune_trigger_fires(self, older_than: float) -> int:
        newest = await self.last_trigger_fires()
        gone = [key for key in self._fires if key[2] < older_than and key[2] < newest[key[0], key[1]]]
        for key in gone:
            del self._fires[key]
        return len(gone)
