"""What the commands print: one-line errors, run outcomes, ``--json`` payloads, and the live view."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from flowloom import Engine, FlowloomError, Run, Status
from flowloom.ir import js_plain

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

#: ``--json`` of the commands that run a workflow (``run``, ``runs resume``): see ``print_json``
RunJsonOption = Annotated[
    bool,
    typer.Option("--json", help='Print one JSON object {"status","outputs","report"} and nothing else.'),
]


def console() -> Console:
    # rich is imported on first use: `--json` runs and one-line errors never need it (a faster start).
    from rich.console import Console

    return Console()


def error(message: str) -> None:
    """One line on stderr, in red on a terminal."""
    prefix = "\033[1;31merror:\033[0m" if sys.stderr.isatty() else "error:"
    sys.stderr.write(f"{prefix} {message}\n")


def warning(message: str) -> None:
    """One line on stderr, in yellow on a terminal."""
    prefix = "\033[1;33mwarning:\033[0m" if sys.stderr.isatty() else "warning:"
    sys.stderr.write(f"{prefix} {message}\n")


def fail_usage(message: str) -> typer.Exit:
    error(message)
    return typer.Exit(EXIT_INVALID)


def exit_code(finished: Run) -> int:
    return EXIT_OK if finished.status is Status.SUCCEEDED else EXIT_FAILED


def print_json(finished: Run) -> None:
    """The ``--json`` contract of ``run`` and ``runs resume``: one object, nothing else on stdout."""
    report = finished.report().to_json()
    payload = {"status": str(finished.status), "outputs": report["outputs"], "report": report}
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def finish(finished: Run, as_json: bool) -> typer.Exit:
    """Print a finished run (``print_json`` or ``print_outcome``); the exit to raise, by its status."""
    if as_json:
        print_json(finished)
    else:
        print_outcome(finished)
    return typer.Exit(exit_code(finished))


def print_outcome(finished: Run) -> None:
    out = console()
    style = "green" if finished.status is Status.SUCCEEDED else "bold red"
    out.print(f"[{style}]{finished.status}[/] run {finished.id}", highlight=False)
    if finished.error:
        error(finished.error)
    for message in finished.report().messages.warning:
        warning(message.message)
    out.print_json(json.dumps(js_plain(finished.outputs), ensure_ascii=False))


async def watched(engine: Engine, start: Callable[[], Awaitable[Run]]) -> Run:
    """Await ``start()`` (which runs a workflow to its end) while showing the live per-node view."""
    from ._view import RunView

    with RunView(console(), live=sys.stdout.isatty()) as view:
        remove = engine.bus.add_listener(view)
        try:
            return await start()
        finally:
            remove()


def run_in(engine: Engine, start: Callable[[], Awaitable[Run]], as_json: bool) -> Run:
    """Open the engine's store (a bad one is a one-line error, exit 2), then await ``start()`` inside the
    engine, with the live view unless ``as_json``."""

    async def main() -> Run:
        async with engine:
            if engine.store is not None:
                await engine.store.open()
            return await (start() if as_json else watched(engine, start))

    try:
        return anyio.run(main)
    except FlowloomError as exc:  # the store cannot be opened; a run that cannot be resumed
        raise fail_usage(str(exc)) from None
