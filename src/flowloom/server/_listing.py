"""The runs API's listing: a ``RunQuery`` from query parameters (several statuses, workflow, time range,
text, keyset cursor), and the page it answers with status counts and the next page's cursor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flowloom.ir import RunCursor, RunQuery, RunRow, RunStore, Status

from ._errors import ApiError


def _seconds(value: str | None, name: str) -> float | None:
    """An ISO 8601 time (``2026-12-07T10:00``, UTC unless it says otherwise) or seconds since the epoch."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400,
            "BAD_REQUEST",
            f"Invalid request: query.{name}: {name} must be an ISO 8601 time or seconds since the epoch,"
            f" got {value!r}",
        ) from None
    return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).timestamp()


def run_query(
    *,
    statuses: list[str] | None,
    workflow: str | None,
    created_from: str | None,
    created_to: str | None,
    text: str | None,
    before: str | None,
) -> RunQuery:
    """A ``RunQuery`` from the API's parameters; ``ApiError`` (400) naming a bad one. A status parameter
    may also hold several statuses separated by commas."""
    chosen: list[Status] = []
    for given in statuses or ():
        for name in filter(None, (part.strip() for part in given.split(","))):
            try:
                chosen.append(Status(name))
            except ValueError:
                known = ", ".join(status.value for status in Status)
                raise ApiError(
                    400,
                    "BAD_REQUEST",
                    f"Invalid request: query.status: unknown status {name!r}; one of: {known}",
                ) from None
    cursor = None
    if before:
        try:
            cursor = RunCursor.from_text(before)
        except ValueError as exc:
            raise ApiError(400, "BAD_REQUEST", f"Invalid request: query.before: {exc}") from None
    return RunQuery(
        statuses=tuple(dict.fromkeys(chosen)),
        workflow_hash=workflow or None,
        created_from=_seconds(created_from, "from"),
        created_to=_seconds(created_to, "to"),
        text=text or None,
        before=cursor,
    )


async def run_page(
    store: RunStore,
    query: RunQuery,
    limit: int,
    offset: int,
    summary: Callable[[RunRow], dict[str, Any]],
) -> dict[str, Any]:
    """One page of runs: ``runs``, ``total`` (runs matching every filter), ``counts`` (per status, over the
    other filters), ``next`` (the cursor of the page after, ``None`` on the last), ``limit``, ``offset``.
    ``offset`` skips runs after the cursor (deep pages: use ``next``, an index range, not an offset)."""
    rows = await store.query_runs(query, limit + offset + 1)
    page = rows[offset : offset + limit]
    more = len(rows) > offset + limit
    counts = await store.count_runs_by_status(query)
    chosen = query.statuses or tuple(counts)
    last = page[-1] if page else None
    return {
        "runs": [summary(row) for row in page],
        "total": sum(counts.get(status, 0) for status in chosen),
        "counts": {str(status): counts.get(status, 0) for status in Status if counts.get(status)},
        "next": RunCursor(created_at=last.created_at, id=last.id).to_text() if more and last else None,
        "limit": limit,
        "offset": offset,
    }
