"""What the commands print: one-line errors, run outcomes, ``--json`` payloads, and the live view."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from flowloom.engine import Engine, FlowloomError, Run
from flowloom.ir import Status, js_plain

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_WAITING = 0, 1, 2, 3

#: ``--json`` of the commands that run a workflow (``run``, ``runs resume``): see ``print_json``
RunJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print one JSON object {"run_id","status","outputs","waiting","report"} and nothing else.',
    ),
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
    if finished.status is Status.WAITING:
        return EXIT_WAITING
    return EXIT_OK if finished.status is Status.SUCCEEDED else EXIT_FAILED


_WAITING_FIELDS = ("key", "reason", "prompt", "choices", "until")


def print_json(finished: Run) -> None:
    """The ``--json`` contract of ``run`` and ``runs resume``: one object, nothing else on stdout.
    ``waiting`` is the wait a waiting run stopped on (the first, by key; ``waits`` has them all), else
    ``null``."""
    report = finished.report().to_json()
    waits = [wait.to_json() for wait in finished.waits]
    waiting = {name: waits[0][name] for name in _WAITING_FIELDS} if waits else None
    if waiting is not None and isinstance(waiting["until"], int | float):  # ISO-8601 in UTC for people
        waiting["until"] = datetime.fromtimestamp(waiting["until"], UTC).isoformat()
    payload = {
        "run_id": finished.id,
        "status": str(finished.status),
        "outputs": report["outputs"],
        "waiting": waiting,
        "waits": waits,
        "error": finished.error if finished.status in (Status.FAILED, Status.CANCELED) else None,
        "report": report,
    }
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
    if finished.status is Status.WAITING:
        print_waits(finished)
        return
    style = "green" if finished.status is Status.SUCCEEDED else "bold red"
    out.print(f"[{style}]{finished.status}[/] run {finished.id}", highlight=False)
    report = finished.report()  # its secrets shown as ***
    if finished.error:
        error(finished.records.shown(finished.error))
    for message in report.messages.warning:
        warning(message.message)
    out.print_json(json.dumps(js_plain(report.outputs), ensure_ascii=False))


def print_waits(finished: Run) -> None:
    """What a waiting run waits for, and how to answer it."""
    out = console()
    out.print(f"[bold yellow]waiting[/] run {finished.id}", highlight=False)
    for wait in finished.waits:
        line = f"  {wait.key} ({wait.reason})"
        if wait.prompt:
            line += f": {wait.prompt}"
        if wait.choices is not None:
            line += f"  choices: {json.dumps(wait.choices, ensure_ascii=False)}"
        if wait.until is not None:
            line += f"  due at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(wait.until))}"
        out.print(line, highlight=False, markup=False)
    key = f" --key {finished.waits[0].key}" if len(finished.waits) > 1 else ""
    out.print(f"answer: flowloom runs resume {finished.id} --payload JSON{key}", highlight=False)


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
