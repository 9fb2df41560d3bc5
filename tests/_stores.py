"""Every store a run can be recorded in, as fixtures: ``store_url`` (``None`` for a ``MemoryStore``, a
SQLite file, a new database on the session's PostgreSQL server) and ``store`` (that store, open). A test
module imports them, with the PostgreSQL fixture they use, under their function names:

    from _stores import every_store_url, open_store, postgres_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from _postgres import create_database, postgres_server
from flowloom.stores import MemoryStore, SqlStore

__all__ = ["every_store_url", "open_store", "postgres_server"]


@pytest.fixture(params=["memory", "sqlite", "postgresql"], name="store_url")
def every_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        yield create_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(name="store")
async def open_store(store_url: str | None, anyio_backend: str) -> AsyncIterator[MemoryStore | SqlStore]:
    opened = MemoryStore() if store_url is None else SqlStore(store_url)
    async with opened:
        yield opened
