"""``flowloom`` commands: run, validate, nodes, serve. Exit codes: 0 succeeded, 1 failed or canceled,
2 invalid workflow, inputs or file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import typer

from flowloom import Engine, InvalidWorkflowError, Run, Status, __version__
from flowloom.ir import js_plain

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

app = typer.Typer(
    name="flowloom",
    help="Run workflows: flowgram.ai JSON today, code-first pipelines next.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console() -> Console:
    # rich is imported on first use: `--json` runs and one-line errors never need it (a faster start).
    from rich.console import Console

    return Console()


InputsOption = Annotated[
    str | None,
    typer.Option("--inputs", "-i", help="Workflow inputs: a JSON object, or @path/to/file.json."),
]
FileArgument = Annotated[Path, typer.Argument(help="The workflow JSON file.", show_default=False)]


class UsageProblem(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


def _error(message: str) -> None:
    """One line on stderr, in red on a terminal."""
    prefix = "\033[1;31merror:\033[0m" if sys.stderr.isatty() else "error:"
    sys.stderr.write(f"{prefix} {message}\n")


def _fail_usage(message: str) -> typer.Exit:
    _error(message)
    return typer.Exit(EXIT_INVALID)


def _invalid(file: Path, errors: list[str]) -> str:
    text = "; ".join(errors)
    return text if str(file) in text else f"invalid workflow {file}: {text}"


def _read_inputs(option: str | None) -> dict[str, Any]:
    if option is None:
        return {}
    where = "--inputs"
    text = option
    if option.startswith("@"):
        path = Path(option[1:])
        where = f"inputs file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageProblem(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(value, dict):
        raise UsageProblem(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flowloom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """flowloom: a fast, durable workflow runtime."""


@app.command()
def run(
    file: FileArgument,
    inputs: InputsOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print one JSON object {"status","outputs","report"} and nothing else.'),
    ] = False,
) -> None:
    """Run a workflow and print its outputs."""
    try:
        values = _read_inputs(inputs)
        engine = Engine()
        validation = engine.validate(file, values)
    except (UsageProblem, InvalidWorkflowError) as exc:
        raise _fail_usage(str(exc)) from None
    if not validation.valid:
        errors = validation.errors or []
        if as_json:
            rejected = engine.start_rejected(errors, values)
            _print_json(rejected)
        raise _fail_usage(_invalid(file, errors))

    if as_json:
        finished = anyio.run(_run_plain, engine, file, values)
        _print_json(finished)
    else:
        finished = anyio.run(_run_with_view, engine, file, values)
        _print_outcome(finished)
    raise typer.Exit(EXIT_OK if finished.status is Status.SUCCEEDED else EXIT_FAILED)


async def _run_plain(engine: Engine, file: Path, values: dict[str, Any]) -> Run:
    async with engine:
        return await engine.run(file, values)


async def _run_with_view(engine: Engine, file: Path, values: dict[str, Any]) -> Run:
    from ._view import RunView

    with RunView(_console(), live=sys.stdout.isatty()) as view:
        remove = engine.bus.add_listener(view)
        try:
            async with engine:
                return await engine.run(file, values)
        finally:
            remove()


def _print_json(finished: Run) -> None:
    report = finished.report().to_json()
    payload = {"status": str(finished.status), "outputs": report["outputs"], "report": report}
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _print_outcome(finished: Run) -> None:
    console = _console()
    style = "green" if finished.status is Status.SUCCEEDED else "bold red"
    console.print(f"[{style}]{finished.status}[/] run {finished.id}", highlight=False)
    if finished.error:
        _error(finished.error)
    console.print_json(json.dumps(js_plain(finished.outputs), ensure_ascii=False))


@app.command()
def validate(file: FileArgument, inputs: InputsOption = None) -> None:
    """Check a workflow (and inputs) without running it."""
    try:
        result = Engine().validate(file, _read_inputs(inputs))
    except (UsageProblem, InvalidWorkflowError) as exc:
        raise _fail_usage(str(exc)) from None
    if not result.valid:
        raise _fail_usage(_invalid(file, result.errors or []))
    _console().print(f"[green]valid[/] {file}", highlight=False)


@app.command()
def nodes() -> None:
    """List the node types this installation can run."""
    console = _console()
    for executor in Engine().nodes:
        doc = (type(executor).__doc__ or "").strip().splitlines()
        console.print(f"[bold]{executor.type:<14}[/] {doc[0] if doc else ''}", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 4000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FLOWLOOM_API_TOKEN",
            help="Require 'Authorization: Bearer <token>' on every route but /info.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the HTTP API: flowgram REST and tRPC, the runs API, live events. Ctrl-C stops it (running
    runs are canceled)."""
    # The server stack is imported only for this command.
    from flowloom.server import FlowloomServer, ServerSettings, create_app

    try:
        settings = ServerSettings(token=token)
    except ValueError as exc:
        raise _fail_usage(f"--token: {exc}") from None
    server = FlowloomServer(create_app(Engine(), settings), host=host, port=port)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: a clean stop, exit 0
        pass
