"""Where the CLI keeps runs: the default SQLite store under the user's data directory, ``--store URL`` or
``$FLOWLOOM_DATABASE_URL`` to change it, ``--no-store`` for none."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowloom.ir import StoreError

DATABASE_URL_ENV = "FLOWLOOM_DATABASE_URL"

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=DATABASE_URL_ENV,
        help="Where runs are recorded: sqlite:///path or postgresql+psycopg://... "
        "[default: a SQLite file in your data directory]",
        show_default=False,
    ),
]
NoStoreOption = Annotated[bool, typer.Option("--no-store", help="Record nothing (no history, no resume).")]


def default_store_url() -> str:
    from flowloom._defaults import data_dir  # the composition root loads only when the default is used

    return f"sqlite:///{data_dir() / 'flowloom' / 'runs.db'}"


def store_url(store: str | None, no_store: bool, *, memory_ok: bool = False) -> str | None:
    """The store a command uses: none with ``--no-store``, else ``--store``/the environment, else the
    default (its directory made if need be). A store given explicitly must be a file in a directory that
    exists, or a server; ``memory_ok``: a SQLite database in memory is fine too (a server that lives on).
    Raises ``StoreError`` naming what is wrong."""
    if no_store:
        return None
    if not store:
        url = default_store_url()
        _make_directory(Path(url.removeprefix("sqlite:///")).parent)
        return url
    from flowloom.stores._database import parse_url  # only for a store given explicitly (no --no-store)

    location = parse_url(store)
    if location.dialect == "sqlite" and location.path in (None, ":memory:"):
        if not memory_ok:
            raise StoreError(
                f"{store} keeps runs in memory only, so nothing would be recorded: "
                "give a file (sqlite:///path/to/runs.db), or --no-store"
            )
    elif location.dialect == "sqlite" and location.path is not None:
        parent = Path(location.path).parent
        if not parent.is_dir():
            raise StoreError(
                f"cannot open SQLite database {location.path}: directory {parent} does not exist"
            )
    return store


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot make the data directory {directory}: {exc.strerror or exc}") from exc


def check_store_opens(url: str | None) -> None:
    """Open (migrating if need be) and close the database at ``url``: a server checks its store before it
    listens, so a bad one is a one-line error rather than a failed start-up's traceback."""
    if url is None:
        return
    import anyio

    from flowloom.stores import SqlStore

    async def probe() -> None:
        async with SqlStore(url):
            pass

    anyio.run(probe)
