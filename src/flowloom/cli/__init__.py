"""The flowloom command line (typer + rich)."""

from __future__ import annotations


def main() -> None:
    from ._app import app

    app()
