"""A throwaway PostgreSQL server for the tests, started by ``scripts/postgres.sh`` (which installs PostgreSQL
with apt-get when it is missing). Tests that need it import the fixture:

    from _postgres import postgres_server  # noqa: F401  (the fixture ``postgres_url``)

If PostgreSQL cannot be installed or started, the tests that use it fail with the script's error; they are
never skipped. ``PG_TIMEOUT`` is the per-test timeout for them: the first one may install PostgreSQL.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"
PG_TIMEOUT = pytest.mark.timeout(900)
_START_TIMEOUT_S = 840  # apt-get on a fresh machine, then initdb and start


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session", name="postgres_url")
def postgres_server() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres`` of a server that lives for the session."""
    directory, url = _start()
    try:
        yield url
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=60, check=False
        )


def _start() -> tuple[Path, str]:
    """Start a server; a port taken between choosing and binding it gets one more try with another port."""
    for attempt in range(3):
        directory = Path(tempfile.mkdtemp(prefix="flowloom-pg-"))
        directory.rmdir()  # the script creates it, owned by the server's user
        done = subprocess.run(
            ["bash", str(SCRIPT), "start", str(directory), str(free_port()), "--no-fsync"],
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0:
            return directory, done.stdout.strip().splitlines()[-1]
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=60, check=False
        )
        if "did not start" not in done.stderr or attempt == 2:
            break
    pytest.fail(f"cannot start PostgreSQL (scripts/postgres.sh):\n{done.stderr}{done.stdout}", pytrace=False)


def create_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL. Drop it with ``drop_database``."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(database_url: str) -> None:
    server_url, name = database_url.rsplit("/", 1)
    with psycopg.connect(_libpq(server_url + "/postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
