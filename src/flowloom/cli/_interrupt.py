"""Ctrl-C during a command that runs a workflow: the run is canceled (and recorded so), and the user is
told which run it was and how to go on with it."""

from __future__ import annotations

import typer

from ._output import error

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command Ctrl-C stopped


def interrupted(run_id: str, *, recorded: bool) -> typer.Exit:
    """Say which run Ctrl-C canceled and how to continue it; the exit to raise."""
    if recorded:
        error(f"interrupted: run {run_id} was canceled; `flowloom runs resume {run_id}` continues it")
    else:
        error(f"interrupted: run {run_id} was canceled (not recorded: --no-store, so it cannot be resumed)")
    return typer.Exit(EXIT_INTERRUPTED)
