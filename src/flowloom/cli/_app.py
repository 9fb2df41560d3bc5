"""``flowloom`` commands: run, validate, nodes, serve, runs. Exit codes: 0 succeeded, 1 failed or canceled,
2 invalid workflow, inputs or file, 3 waiting (answer it with ``flowloom runs resume ID --payload``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from flowloom._version import __version__
from flowloom.engine import Engine, FlowloomError, InvalidWorkflowError, Run, metadata_of, traits_of
from flowloom.ir import RunStore, StoreError

from ._bundle import bundle_app
from ._bundle_run import BundlesDirOption, bundle_target, run_bundle
from ._checks import Refused, check
from ._flowengine import flowengine_document
from ._init import init
from ._inputs import UsageProblem, read_json_object
from ._interrupt import interrupted
from ._output import (
    RunJsonOption,
    console,
    exit_code,
    fail_usage,
    finish,
    print_json,
    run_in,
)
from ._runs import runs_app
from ._store import NoStoreOption, StoreOption, check_store_opens, store_url
from ._triggers import triggers_app
from ._visualflow import with_folder_subflows
from ._workers import DEFAULT_LEASE_TTL, LeaseTtlOption, WorkersOption, lease_ttl, workers_address

app = typer.Typer(
    name="flowloom",
    help="Run workflows (flowgram.ai JSON, flowloom JSON). Runs are recorded (see runs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


InputsOption = Annotated[
    str | None,
    typer.Option("--inputs", "-i", help="Workflow inputs: a JSON object, or @path/to/file.json."),
]
JsonlOption = Annotated[
    bool,
    typer.Option(
        "--jsonl",
        help="Print each event as a JSON line {seq, run_id, type, data} as it is recorded, then the "
        "--json object, and nothing else.",
    ),
]
FileArgument = Annotated[Path, typer.Argument(help="The workflow JSON file.", show_default=False)]
TargetArgument = Annotated[
    Path,
    typer.Argument(
        help="The workflow JSON file, a .flow bundle (or bundle folder), or an installed bundle's "
        "entrypoint: ID[@VERSION][:FLOW] or its name.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="The workflow's format (flowgram, flowloom, ...); default: detected from its content.",
        show_default=False,
    ),
]


def _read_inputs(option: str | None) -> dict[str, Any]:
    return read_json_object(option, name="--inputs")


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
    file: TargetArgument,
    inputs: InputsOption = None,
    as_json: RunJsonOption = False,
    jsonl: JsonlOption = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
    workflow_format: FormatOption = None,
    workers: WorkersOption = None,
    bundles_dir: BundlesDirOption = None,
) -> None:
    """Run a workflow, a bundle's default entrypoint or an installed entrypoint, and print its outputs.
    The run is recorded in the store (see ``flowloom runs``)."""
    if as_json and jsonl:
        raise fail_usage("--json and --jsonl print different things: choose one")
    try:
        values = _read_inputs(inputs)
        url = store_url(store, no_store)
        bundle = bundle_target(file, bundles_dir)
        if bundle is not None:  # a bundle's flows are VisualFlow unless told otherwise
            raise typer.Exit(run_bundle(bundle, values, url, as_json, jsonl, workflow_format, workers))
        document = flowengine_document(file, workflow_format)
        # --jsonl prints the events as recorded: without a store, in memory for the run's length (a
        # flowengine run prints them from the engine's bus)
        engine = Engine(
            store=_memory_store() if url is None and jsonl and document is None else url,
            workers=workers_address(workers),
        )
        source = with_folder_subflows(file, workflow_format)
        checked = check(engine, file, values, format=workflow_format, source=source)
    except (UsageProblem, InvalidWorkflowError, StoreError) as exc:
        raise fail_usage(str(exc)) from None
    if isinstance(checked, Refused):
        if as_json or jsonl:
            print_json(engine.start_rejected(checked.errors, values))
        raise fail_usage(checked.message)

    run_id = str(uuid.uuid4())  # known before the run starts, so that Ctrl-C can name it

    if document is not None:  # flowengine's result object and events
        raise typer.Exit(_run_flowengine(engine, file, values, as_json, jsonl))

    async def start() -> Run:
        if jsonl:
            from ._events import run_jsonl

            return await run_jsonl(engine, file, values, workflow_format, run_id=run_id)
        run = engine.start(source or file, values, format=workflow_format, run_id=run_id)
        await run.join()
        return run

    try:
        finished = run_in(engine, start, as_json or jsonl)
    except KeyboardInterrupt:
        raise interrupted(run_id, recorded=engine.store is not None) from None
    if jsonl:  # its --json object is printed already, after the events
        raise typer.Exit(exit_code(finished))
    raise finish(finished, as_json)


def _run_flowengine(engine: Engine, file: Path, values: dict[str, Any], as_json: bool, jsonl: bool) -> int:
    from ._flowengine import print_result, run_flowengine

    async def main() -> tuple[dict[str, Any], int]:
        async with engine:
            if engine.store is not None:
                await engine.store.open()
            return await run_flowengine(engine, file, values, jsonl=jsonl)

    try:
        result, code = anyio.run(main)
    except FlowloomError as exc:
        raise fail_usage(str(exc)) from None
    if as_json or jsonl:
        print_result(result)
    else:
        console().print_json(json.dumps(result, ensure_ascii=False))
    return code


def _memory_store() -> RunStore:
    from flowloom.stores import MemoryStore

    return MemoryStore()


@app.command()
def validate(file: FileArgument, inputs: InputsOption = None, workflow_format: FormatOption = None) -> None:
    """Check a workflow (and, given --inputs, its inputs) without running it: also node types without an
    executor, malformed node settings and refs that cannot resolve, which a run only warns about."""
    try:
        values = None if inputs is None else _read_inputs(inputs)
        checked = check(Engine(), file, values, format=workflow_format, strict=True)
    except (UsageProblem, InvalidWorkflowError) as exc:
        raise fail_usage(str(exc)) from None
    if isinstance(checked, Refused):
        raise fail_usage(checked.message)
    console().print(f"[green]valid[/] {file}", highlight=False)


@app.command()
def nodes(
    as_json: Annotated[bool, typer.Option("--json", help="Print the node types as one JSON array.")] = False,
) -> None:
    """List the node types this installation can run: category, traits and description."""
    executors = sorted(Engine().nodes, key=lambda e: (metadata_of(e).category, e.type))
    if as_json:
        listed = [
            {"type": e.type, "traits": asdict(traits_of(e)), **metadata_of(e).to_json()} for e in executors
        ]
        typer.echo(json.dumps(listed, indent=2, default=str))
        return
    out = console()
    for executor in executors:
        metadata = metadata_of(executor)
        declared = [name for name, on in asdict(traits_of(executor)).items() if on]
        traits = ", ".join(declared) or "-"
        out.print(
            f"[bold]{executor.type:<14}[/] {metadata.category:<10} {traits:<32} {metadata.description}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 4000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FLOWLOOM_API_TOKEN",
            help="Require 'Authorization: Bearer <token>' on every route but /info.",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
    workers: WorkersOption = None,
    lease_ttl_s: LeaseTtlOption = DEFAULT_LEASE_TTL,
    bundles_dir: BundlesDirOption = None,
) -> None:
    """Serve the HTTP API: flowgram REST and tRPC, the runs API, live events. Runs are recorded in the
    store; runs a dead process left unfinished there are resumed. Ctrl-C stops it (running runs are
    canceled)."""
    # The server stack is imported only for this command.
    from flowloom.server import FlowloomServer, ServerSettings, create_app

    try:
        settings = ServerSettings(token=token, bundles_dir=bundles_dir)
    except ValueError as exc:
        raise fail_usage(f"--token: {exc}") from None
    try:
        url = store_url(store, no_store, memory_ok=True)
        check_store_opens(url)
        engine = Engine(store=url, workers=workers_address(workers), lease_ttl_s=lease_ttl(lease_ttl_s))
    except (FlowloomError, UsageProblem) as exc:
        raise fail_usage(str(exc)) from None
    server = FlowloomServer(create_app(engine, settings), host=host, port=port)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: a clean stop, exit 0
        pass


app.command()(init)
app.add_typer(runs_app)
app.add_typer(bundle_app)
app.add_typer(triggers_app)
