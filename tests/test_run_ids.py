"""Short run ids (issue 21): ``RunStore.run_ids_with_prefix`` on every store, as ``flowloom runs show
PREFIX`` uses it."""

from __future__ import annotations

import pytest

from _postgres import postgres_server  # noqa: F401
from flowloom.ir import RunStore, Status
from test_stores import run, store, store_url  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_run_ids_with_a_prefix(store: RunStore) -> None:  # noqa: F811 (the fixture)
    for run_id in ("abc-1", "abc-2", "abd-1", "a%c-1", "a_c-1"):
        await store.create_run(run(run_id, status=Status.SUCCEEDED))
    assert await store.run_ids_with_prefix("abc") == ["abc-1", "abc-2"]
    assert await store.run_ids_with_prefix("abc", limit=1) == ["abc-1"]
    assert await store.run_ids_with_prefix("abd-") == ["abd-1"]
    assert await store.run_ids_with_prefix("a%") == ["a%c-1"]  # LIKE's wildcards are plain characters
    assert await store.run_ids_with_prefix("a_") == ["a_c-1"]
    assert await store.run_ids_with_prefix("zz") == []
