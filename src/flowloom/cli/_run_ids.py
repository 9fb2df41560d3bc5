"""Run ids on the command line: the whole id, or (like git's short hashes) any prefix of it that names one
run only."""

from __future__ import annotations

from flowloom.engine import FlowloomError
from flowloom.ir import RunStore

MIN_PREFIX = 4  # shorter prefixes would name several runs in all but the smallest stores


async def full_run_id(store: RunStore, given: str) -> str:
    """The id of the run ``given`` names; ``FlowloomError`` (a one-line message) if none or several do."""
    if await store.get_run(given) is not None:
        return given
    where = getattr(store, "location", "the store")
    if len(given) < MIN_PREFIX:
        raise FlowloomError(f"no run {given!r} in {where} (a short id needs {MIN_PREFIX} characters or more)")
    found = await store.run_ids_with_prefix(given, limit=3)
    if not found:
        raise FlowloomError(f"no run {given!r} in {where}")
    if len(found) > 1:
        shown = ", ".join(found[:2]) + (", ..." if len(found) > 2 else "")
        raise FlowloomError(f"run id {given!r} is ambiguous: {shown}; give more of it")
    return found[0]
