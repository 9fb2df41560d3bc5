"""Opening a SQL database for ``SqlStore``: URL checks, SQLite pragmas, connection errors, migrations, and one
transaction per call. Everything here is synchronous; ``SqlStore`` calls it from worker threads.

SQLite is opened on the standard library's driver, and SQLAlchemy is loaded only when something needs it (a
read, a migration, an error to report): a short-lived process that records one run into an up-to-date file
(``flowloom run``) then never pays for SQLAlchemy's import. PostgreSQL always goes through SQLAlchemy."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flowloom.ir import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL, Connection, Engine

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 10.0
PG_CONNECT_TIMEOUT_S = 5
PG_POOL_SIZE = 8  # SqlStore runs at most this many calls at once on PostgreSQL
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MIGRATION_LOCK = 0x666C6F776C6F6F6D  # pg advisory lock key: b"flowloom"
SCHEMA_HEAD = "0010"  # the newest migration's revision (a test holds it to Alembic's head)


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """Where a store is: a SQLite file (``path``; None or ``:memory:`` in memory), or PostgreSQL (``url``,
    SQLAlchemy's)."""

    dialect: str  # "sqlite" or "postgresql"
    path: str | None = None
    url: URL | None = None

    def shown(self) -> str:
        """The URL without its password."""
        if self.url is not None:
            return self.url.render_as_string(hide_password=True)
        return f"sqlite:///{self.path}" if self.path else "sqlite://"

    @property
    def password(self) -> str | None:
        return None if self.url is None else self.url.password


_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?://(?:/(?P<path>[^?#]*))?")


def parse_url(url: str) -> StoreUrl:
    """A store URL: ``sqlite:///path`` or ``postgresql[+psycopg]://...``."""
    plain_sqlite = _SQLITE_URL.fullmatch(url)
    if plain_sqlite is not None:  # the common case, read without SQLAlchemy
        if plain_sqlite["path"] == "":
            raise StoreError(f"{url!r} names no file: use sqlite:///path/to/runs.db (sqlite:// is in memory)")
        return StoreUrl("sqlite", path=plain_sqlite["path"] or None)
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as error:
        raise StoreError(f"not a database URL: {url!r}") from error
    try:
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    except sa.exc.NoSuchModuleError as error:  # a scheme SQLAlchemy has no dialect for
        raise StoreError(
            f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: {_USE}"
        ) from error
    if backend == "sqlite" and driver == "pysqlite":
        return StoreUrl("sqlite", path=parsed.database or None, url=parsed)
    if backend == "postgresql" and (driver == "psycopg" or "+" not in parsed.drivername):
        return StoreUrl("postgresql", url=parsed.set(drivername="postgresql+psycopg"))
    raise StoreError(f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: {_USE}")


_USE = "use sqlite:///path or postgresql+psycopg://user@host:port/db"


def describe(url: StoreUrl) -> str:
    """Where a database is, for messages: the SQLite path, or PostgreSQL host:port/db (no password)."""
    if url.dialect == "sqlite":
        return f"SQLite database {url.path or ':memory:'}"
    assert url.url is not None
    return f"PostgreSQL at {url.url.host or 'localhost'}:{url.url.port or 5432}/{url.url.database or ''}"


_BUSY_WAIT = f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}"
_BUSY_FAIL = "PRAGMA busy_timeout = 0"


class SqliteBusy(Exception):
    """Another connection holds the SQLite write lock, and the call was not to wait for it."""


def _busy(error: BaseException) -> bool:
    cause = getattr(error, "orig", error)
    return isinstance(cause, sqlite3.OperationalError) and ("locked" in str(cause) or "busy" in str(cause))


@dataclass(slots=True)
class Database:
    """An open database. SQLite: one connection (``driver``), used by one thread at a time (the caller
    guarantees it), wrapped by SQLAlchemy only once something needs SQLAlchemy. PostgreSQL: a pool of
    ``PG_POOL_SIZE`` connections, one per concurrent call."""

    url: StoreUrl
    driver: sqlite3.Connection | None  # SQLite's one connection
    engine: Engine | None = None
    connection: Connection | None = None  # SQLAlchemy's wrapper of ``driver``

    @classmethod
    def open(cls, url: StoreUrl) -> Database:
        database = _open_sqlite(url) if url.dialect == "sqlite" else _open_postgres(url)
        try:
            if database.driver is None or not _at_head_sqlite(database.driver):
                database.call(_migrate, write=True)
            if database.driver is not None:
                if url.path not in (None, ":memory:"):
                    _enable_wal(database.driver, url)
                database.driver.execute(_BUSY_FAIL)
        except BaseException:
            database.close()
            raise
        return database

    def _sqlalchemy(self) -> Connection:
        """SQLite: SQLAlchemy's connection over ``driver``, made on first need."""
        if self.connection is None:
            import sqlalchemy as sa
            from sqlalchemy import event

            driver = self.driver
            assert driver is not None
            engine = sa.create_engine("sqlite://", creator=lambda: driver, poolclass=sa.pool.StaticPool)
            event.listen(engine, "begin", _sqlite_begin)
            self.engine, self.connection = engine, engine.connect()
        return self.connection

    def call(self, fn: Callable[[Connection], T], *, write: bool, wait: bool = True) -> T:
        """``fn(connection)`` in one transaction, committed unless it raises. On SQLite a write transaction
        takes the write lock at its start (``BEGIN IMMEDIATE``), so it never fails half-way on a busy lock.

        SQLite only: ``wait=False`` does not wait for a lock another connection holds, it raises
        ``SqliteBusy`` at once (nothing written) -- for calls made on the event loop's own thread. Otherwise
        the call waits up to ``SQLITE_BUSY_TIMEOUT_S`` (the connection's busy timeout is 0 in between)."""
        from sqlalchemy import exc

        try:
            if self.driver is None:
                assert self.engine is not None
                with self.engine.begin() as connection:
                    return fn(connection)
            connection = self._sqlalchemy()
            connection.info["flowloom.begin"] = "BEGIN IMMEDIATE" if write else "BEGIN"
            driver = self.driver
            if wait:
                driver.execute(_BUSY_WAIT)
            try:
                with connection.begin():
                    return fn(connection)
            finally:
                if connection.in_transaction():  # a failed BEGIN leaves SQLAlchemy's side open
                    with suppress(exc.SQLAlchemyError):
                        connection.rollback()
                if wait:
                    driver.execute(_BUSY_FAIL)
        except exc.OperationalError as error:
            if not wait and _busy(error):
                raise SqliteBusy from error
            raise StoreError(f"{describe(self.url)}: {_reason(error, self.url)}") from error
        except exc.SQLAlchemyError as error:
            raise StoreError(f"{describe(self.url)}: {_reason(error, self.url)}") from error

    def write(self, fn: Callable[[Any], T], *, wait: bool = True, read_only: bool = False) -> T:
        """``fn(dbapi_connection)``, statements run on the driver (see ``_statements``), in one write
        transaction. On SQLite the transaction is the driver's own: SQLAlchemy's begin and commit would cost
        as much as SQLite's work for a small write, and a process that only writes never loads SQLAlchemy.

        SQLite's ``wait=False`` is ``call``'s: no waiting for a lock another connection holds
        (``SqliteBusy``), for writes made on the event loop's own thread. ``read_only``: SQLite's reads of
        the resume path (``_sqlite_reads``), in a deferred transaction, without SQLAlchemy either."""
        driver = self.driver
        if driver is None:
            return self.call(lambda connection: fn(connection.connection.driver_connection), write=True)
        if wait:
            driver.execute(_BUSY_WAIT)
        try:
            try:
                driver.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not wait and _busy(error):
                    raise SqliteBusy from error
                raise StoreError(f"{describe(self.url)}: {error}") from error
            try:
                result = fn(driver)
                driver.execute("COMMIT")
            except BaseException as error:
                with suppress(sqlite3.Error):
                    driver.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise StoreError(f"{describe(self.url)}: {error}") from error
                cause = getattr(error, "orig", None)  # a driver error made SQLAlchemy's (see _statements)
                if isinstance(cause, sqlite3.Error):
                    raise StoreError(f"{describe(self.url)}: {cause}") from error
                raise
            return result
        finally:
            if wait:
                driver.execute(_BUSY_FAIL)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        if self.engine is not None:
            self.engine.dispose()
        if self.driver is not None:
            self.driver.close()


def _open_sqlite(url: StoreUrl) -> Database:
    path = url.path
    if path and path != ":memory:":
        _check_sqlite_file(Path(path))
    try:
        driver = sqlite3.connect(
            path or ":memory:", timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
    except sqlite3.Error as error:
        raise StoreError(f"cannot open {describe(url)}: {error}") from error
    try:
        driver.execute("PRAGMA foreign_keys = ON")
        driver.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as error:
        driver.close()
        raise StoreError(f"cannot open {describe(url)}: {error}") from error
    return Database(url, driver)


def _check_sqlite_file(path: Path) -> None:
    """Refuse a path that is not a SQLite database before SQLite touches it; create missing directories."""
    try:
        if path.exists():
            with path.open("rb") as file:
                head = file.read(len(_SQLITE_MAGIC))
            if head and head != _SQLITE_MAGIC:  # an empty file is an empty database
                raise StoreError(f"{path} is not a SQLite database (or it is corrupt); it was left untouched")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot open SQLite database {path}: {error}") from error


def _sqlite_begin(connection: Connection) -> None:
    # on the driver's connection: Connection.exec_driver_sql would cost more than the BEGIN itself
    begin = connection.info.get("flowloom.begin", "BEGIN")
    try:
        connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]
    except sqlite3.Error as error:  # as SQLAlchemy would raise it (a busy database, mostly)
        from sqlalchemy.exc import DBAPIError

        raise DBAPIError.instance(begin, None, error, sqlite3.Error) from error


def _enable_wal(driver: sqlite3.Connection, url: StoreUrl) -> None:
    """Switch the file to WAL (it stays so). Done after migrating: a file that is refused stays untouched.
    Outside any transaction. The switch needs the file to itself: SQLite refuses it at once, without waiting,
    while another connection that is opening the same new file holds a lock, so it is retried for up to the
    busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            mode = driver.execute("PRAGMA journal_mode").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                mode = driver.execute("PRAGMA journal_mode=WAL").fetchone()
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise StoreError(f"cannot switch {describe(url)} to WAL: {error}") from error
            time.sleep(0.005)
    if mode is None or str(mode[0]).lower() != "wal":
        raise StoreError(f"cannot switch {describe(url)} to WAL: journal mode is {mode}")


def _open_postgres(url: StoreUrl) -> Database:
    import sqlalchemy as sa

    assert url.url is not None
    engine = sa.create_engine(
        url.url,
        pool_size=PG_POOL_SIZE,
        max_overflow=0,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(f"cannot connect to {describe(url)}: {_reason(error, url)}") from error
    return Database(url, None, engine)


def _reason(error: Exception, url: StoreUrl) -> str:
    """The driver's message, first line, with any password masked."""
    cause = getattr(error, "orig", None) or error
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return text.replace(url.password, "***") if url.password else text


# migrations ------------------------------------------------------------------------------------------------


def alembic_config() -> Config:
    """The Alembic configuration of flowloom's migrations, built in code (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("flowloom.stores") / "migrations"))
    return config


def _migrate(connection: Connection) -> None:
    """Bring the schema to head, or refuse a database made by a newer flowloom without changing it. A
    database already at head (every open but the first) is recognised without importing Alembic, which
    would double the start-up time of a short-lived process such as ``flowloom run``."""
    import sqlalchemy as sa

    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    if _at_head(connection):
        return
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    current = MigrationContext.configure(connection).get_current_heads()
    known = {revision.revision for revision in script.walk_revisions()}
    for revision in current:
        if revision not in known:
            raise StoreError(
                f"database schema {revision} is newer than this flowloom ({head}); upgrade flowloom"
            )
    if current != (head,):
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _at_head(connection: Connection) -> bool:
    import sqlalchemy as sa

    if not sa.inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [SCHEMA_HEAD]


def _at_head_sqlite(driver: sqlite3.Connection) -> bool:
    """``_at_head``, read on the driver: the check every open of an up-to-date file makes."""
    try:
        found = driver.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        versions = driver.execute("SELECT version_num FROM alembic_version").fetchall() if found else []
    except sqlite3.DatabaseError:
        return False  # unreadable here: the migration (through SQLAlchemy) reports it properly
    return [version for (version,) in versions] == [SCHEMA_HEAD]
