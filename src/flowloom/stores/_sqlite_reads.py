"""SQLite's reads of a run (its row, workflow, node records, waits) and the answer to its wait, as SQL run on
the driver: what ``flowloom runs resume`` needs, so a resume, like a run, never loads SQLAlchemy (whose
import costs a CLI process as much as the rest of it). PostgreSQL, and every other read, use ``_queries``."""

from __future__ import annotations

import sqlite3
from typing import Any

from flowloom.ir import Json, NodeRow, RunRow, Status, StoreError, WaitRow, WaitStatus

from ._codec import load_scope, loads
from ._records import node_order
from ._waits import chosen_wait, not_waiting

_RUN = (
    "SELECT id, workflow_hash, status, created_at, inputs, outputs, error, started_at, ended_at, metadata,"
    " parent_run_id, owner, lease_expires_at FROM runs"
)
_NODE = (
    "SELECT run_id, node_id, scope, attempt, status, inputs, outputs, branch, error, started_at, ended_at,"
    " cached FROM node_records WHERE run_id = ?"
)
_WAIT = (
    "SELECT run_id, key, node_id, scope, reason, prompt, choices, until, details, created_at, status,"
    " payload, answered_at FROM waits WHERE run_id = ?"
)


def _run(row: tuple[Any, ...]) -> RunRow:
    (run_id, workflow_hash, status, created, inputs, outputs, error, started, ended, meta, parent, owner,
     lease) = row  # fmt: skip
    return RunRow(
        id=run_id,
        workflow_hash=workflow_hash,
        status=Status(status),
        created_at=created,
        inputs=loads(inputs),
        outputs=loads(outputs),
        error=error,
        started_at=started,
        ended_at=ended,
        metadata=loads(meta),
        parent_run_id=parent,
        owner=owner,
        lease_expires_at=lease,
    )


def _wait(row: tuple[Any, ...]) -> WaitRow:
    (run_id, key, node_id, scope, reason, prompt, choices, until, details, created, status, payload,
     answered) = row  # fmt: skip
    return WaitRow(
        run_id=run_id,
        key=key,
        node_id=node_id,
        scope=load_scope(scope),
        reason=reason,
        prompt=prompt,
        choices=loads(choices),
        until=until,
        details=loads(details),
        created_at=created,
        status=WaitStatus(status),
        payload=loads(payload),
        answered_at=answered,
    )


def get_workflow(driver: sqlite3.Connection, workflow_hash: str) -> Json | None:
    row = driver.execute("SELECT workflow FROM workflows WHERE hash = ?", (workflow_hash,)).fetchone()
    return None if row is None else loads(row[0])


def get_run(driver: sqlite3.Connection, run_id: str) -> RunRow | None:
    row = driver.execute(f"{_RUN} WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else _run(row)


def get_nodes(driver: sqlite3.Connection, run_id: str) -> list[NodeRow]:
    rows = driver.execute(_NODE, (run_id,)).fetchall()
    nodes = [
        NodeRow(
            run_id=r[0],
            node_id=r[1],
            scope=load_scope(r[2]),
            attempt=r[3],
            status=Status(r[4]),
            inputs=loads(r[5]),
            outputs=loads(r[6]),
            branch=r[7],
            error=r[8],
            started_at=r[9],
            ended_at=r[10],
            cached=bool(r[11]),
        )
        for r in rows
    ]
    return sorted(nodes, key=node_order)


def get_waits(driver: sqlite3.Connection, run_id: str) -> list[WaitRow]:
    return [_wait(row) for row in driver.execute(f"{_WAIT} ORDER BY key", (run_id,)).fetchall()]


def answer_wait(
    driver: sqlite3.Connection,
    run_id: str,
    key: str | None,
    payload_text: str,
    owner: str,
    ttl_s: float,
    now: float,
) -> WaitRow:
    """``_queries.Queries.answer_wait`` on the driver, inside the caller's write transaction (SQLite's write
    transactions take turns: the status read and the claim cannot interleave with another answer)."""
    row = driver.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise StoreError(f"unknown run {run_id!r}")
    if row[0] != Status.WAITING.value:
        raise not_waiting(run_id, Status(row[0]))
    wait = chosen_wait(run_id, get_waits(driver, run_id), key)
    claimed = driver.execute(
        "UPDATE runs SET status = ?, owner = ?, lease_expires_at = ? WHERE id = ? AND status = ?",
        (Status.PROCESSING.value, owner, now + ttl_s, run_id, Status.WAITING.value),
    )
    if claimed.rowcount != 1:  # pragma: no cover  (the transaction holds the write lock since the read)
        raise not_waiting(run_id, Status.PROCESSING)
    driver.execute(
        "UPDATE waits SET status = ?, payload = ?, answered_at = ?"
        " WHERE run_id = ? AND key = ? AND status = ?",
        (WaitStatus.ANSWERED.value, payload_text, now, run_id, wait.key, WaitStatus.OPEN.value),
    )
    answered = driver.execute(f"{_WAIT} AND key = ?", (run_id, wait.key)).fetchone()
    return _wait(answered)
