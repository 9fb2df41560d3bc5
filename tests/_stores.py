"""The stores a run can be recorded in, as fixtures, each named ``store_url`` where a test uses it:
``every_store_url`` (``None`` for a ``MemoryStore``, a SQLite file, a new database on the session's
PostgreSQL server), ``sql_store_url`` (the SQLite file or the PostgreSQL database), and ``open_store`` (the
store of ``store_url``, open, as ``store``). A PostgreSQL database is dropped after its test. A test module
imports the ones it uses, with the PostgreSQL fixture they need:

    from _stores import every_store_url, open_store, postgres_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from _postgres import PG_TIMEOUT, create_database, drop_database, postgres_server
from flowloom.stores import MemoryStore, SqlStore

__all__ = ["every_store_url", "open_store", "postgres_server", "sql_store_url"]

_POSTGRESQL = pytest.param("postgresql", marks=PG_TIMEOUT)


@pytest.fixture(params=["memory", "sqlite", _POSTGRESQL], name="store_url")
def every_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
    else:
        yield from _database(request, tmp_path)


@pytest.fixture(params=["sqlite", _POSTGRESQL], name="store_url")
def sql_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _database(request, tmp_path)


@pytest.fixture(name="store")
async def open_store(store_url: str | None, anyio_backend: str) -> AsyncIterator[MemoryStore | SqlStore]:
    opened = MemoryStore() if store_url is None else SqlStore(store_url)
    async with opened:
        yield opened


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
        return
    url = create_database(request.getfixturevalue("postgres_url"))
    try:
        yield url
    finally:
        drop_database(url)
