"""Where the CLI keeps runs: the default SQLite store under the user's data directory, ``--store URL`` or
``$FLOWLOOM_DATABASE_URL`` to change it, ``--no-store`` for none."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

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


def data_dir() -> Path:
    """The per-user data directory (XDG on Linux; the platform's own elsewhere)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_store_url() -> str:
    return f"sqlite:///{data_dir() / 'flowloom' / 'runs.db'}"


def store_url(store: str | None, no_store: bool) -> str | None:
    """The store a command uses: none with ``--no-store``, else ``--store``/the environment, else the
    default."""
    if no_store:
        return None
    return store or default_store_url()
