"""``flowloom runs``: the history in the store -- list, show, events, cancel, resume."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import anyio
import typer

from flowloom.engine import NO_ANSWER, Engine, FlowloomError, Run, records_from_rows
from flowloom.ir import NodeRow, RunRow, RunStore, Status, WaitRow

from ._inputs import UsageProblem, read_json_option
from ._output import EXIT_FAILED, RunJsonOption, console, fail_usage, finish, run_in
from ._run_ids import full_run_id
from ._store import NoStoreOption, StoreOption, store_url

runs_app = typer.Typer(
    name="runs", help="Recorded runs: list, show, events, cancel, resume.", no_args_is_help=True
)

RunIdArgument = Annotated[str, typer.Argument(help="The run's id.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")]


def _engine(store: str | None, no_store: bool) -> Engine:
    try:
        url = store_url(store, no_store)
        if url is None:
            raise fail_usage("runs are kept in a store: drop --no-store (or give --store URL)")
        return Engine(store=url)
    except FlowloomError as exc:
        raise fail_usage(str(exc)) from None


def _read(engine: Engine, read: Any) -> Any:
    """``await read(store)`` with the engine's store open; store errors are one-line errors."""

    async def main() -> Any:
        async with engine:
            assert engine.store is not None
            return await read(engine.store)

    try:
        return anyio.run(main)
    except FlowloomError as exc:
        raise fail_usage(str(exc)) from None


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _run_json(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": str(row.status),
        "workflow": row.workflow_hash,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "error": row.error,
        "parent_run_id": row.parent_run_id,
        "owner": row.owner,
        "metadata": row.metadata,
    }


def _duration(start: float | None, end: float | None) -> str:
    return "" if start is None or end is None else f"{(end - start) * 1000:.0f} ms"


@runs_app.command("list")
def list_runs(
    status: Annotated[Status | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    as_json: JsonOption = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """Runs, newest first."""
    engine = _engine(store, no_store)
    rows: list[RunRow] = _read(engine, lambda s: s.list_runs(status, limit))
    if as_json:
        sys.stdout.write(json.dumps([_run_json(row) for row in rows], ensure_ascii=False) + "\n")
        return
    from rich.table import Column, Table

    table = Table(
        Column("id", no_wrap=True, min_width=36),
        "status",
        "created",
        "took",
        "error",
        box=None,
        header_style="bold",
    )
    for row in rows:
        table.add_row(
            row.id,
            str(row.status),
            _iso(row.created_at),
            _duration(row.started_at, row.ended_at),
            row.error or "",
        )
    console().print(table)


@runs_app.command()
def show(
    run_id: RunIdArgument,
    as_json: JsonOption = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """A run: its report, a table of its node executions, and its errors."""
    engine = _engine(store, no_store)

    async def read(s: RunStore) -> tuple[RunRow | None, list[NodeRow], list[WaitRow]]:
        full = await full_run_id(s, run_id)
        return await s.get_run(full), await s.get_nodes(full), await s.get_waits(full)

    row, nodes, waits = _read(engine, read)
    if row is None:
        raise fail_usage(f"no run {run_id!r} in {engine.store.location}")  # type: ignore[union-attr]
    report = records_from_rows(row, nodes).report().to_json()
    if as_json:
        payload = {
            "run": _run_json(row),
            "nodes": [_node_json(node) for node in nodes],
            "waits": [{**wait.to_json(), "payload": wait.payload} for wait in waits],
            "report": report,
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    _print_run(row, nodes)
    for wait in waits:
        answer = f" -> {json.dumps(wait.payload, ensure_ascii=False)}" if wait.payload is not None else ""
        prompt = f": {wait.prompt}" if wait.prompt else ""
        console().print(f"wait {wait.key} ({wait.status}){prompt}{answer}", highlight=False, markup=False)


def _node_json(node: NodeRow) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "scope": list(node.scope),
        "status": str(node.status),
        "attempt": node.attempt,
        "inputs": node.inputs,
        "outputs": node.outputs,
        "branch": node.branch,
        "error": node.error,
        "started_at": _iso(node.started_at),
        "ended_at": _iso(node.ended_at),
        "cached": node.cached,
    }


def _print_run(row: RunRow, nodes: list[NodeRow]) -> None:
    from rich.table import Table

    out = console()
    style = "green" if row.status is Status.SUCCEEDED else "bold red"
    out.print(f"[{style}]{row.status}[/] run {row.id}", highlight=False)
    out.print(f"created {_iso(row.created_at)}  took {_duration(row.started_at, row.ended_at) or '-'}")
    if row.parent_run_id:
        out.print(f"resumed from {row.parent_run_id}")
    table = Table("node", "scope", "status", "attempt", "took", "cached", box=None, header_style="bold")
    for node in sorted(nodes, key=lambda n: (n.started_at or 0.0, n.node_id, n.scope)):
        table.add_row(
            node.node_id,
            "/".join(map(str, node.scope)),
            str(node.status),
            str(node.attempt),
            _duration(node.started_at, node.ended_at),
            "yes" if node.cached else "",
        )
    out.print(table)
    errors = [(node.node_id, node.error) for node in nodes if node.error]
    for node_id, message in errors:
        out.print(f"[bold red]error[/] {node_id}: {message}", highlight=False)
    if row.error and all(message != row.error for _, message in errors):
        out.print(f"[bold red]error[/] {row.error}", highlight=False)
    out.print_json(json.dumps(row.outputs, ensure_ascii=False))


@runs_app.command()
def events(
    run_id: RunIdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the run ends.")
    ] = False,
    after: Annotated[int, typer.Option(min=0, help="Only events after this sequence number.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object {seq, run_id, type, data} per line.")
    ] = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """A run's recorded events, from any process; with --follow, then its new ones until it ends."""
    from ._events import print_events

    engine = _engine(store, no_store)

    async def read(s: RunStore) -> None:
        if await s.get_run(run_id) is None:
            raise FlowloomError(f"no run {run_id!r} in {getattr(s, 'location', type(s).__name__)}")
        await print_events(s, run_id, after, follow=follow, as_json=as_json)

    try:
        _read(engine, read)
    except KeyboardInterrupt:  # Ctrl-C ends a --follow: no traceback
        raise typer.Exit(130) from None


@runs_app.command()
def cancel(run_id: RunIdArgument, store: StoreOption = None, no_store: NoStoreOption = False) -> None:
    """Cancel a run: one running in another process stops within about a second."""
    engine = _engine(store, no_store)

    async def cancel_named(s: RunStore) -> tuple[str, Status]:
        full = await full_run_id(s, run_id)
        return full, await engine.cancel_recorded(full)

    run_id, before = _read(engine, cancel_named)
    if before.terminated:
        console().print(f"run {run_id} had already ended: {before}", highlight=False)
        raise typer.Exit(EXIT_FAILED)
    console().print(f"canceled run {run_id}", highlight=False)


@runs_app.command()
def resume(
    run_id: RunIdArgument,
    payload: Annotated[
        str | None,
        typer.Option(
            help="Answer the run's wait with this JSON value (or @path/to/file.json).", show_default=False
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="The key of the wait to answer (needed when several are open).", show_default=False
        ),
    ] = None,
    as_json: RunJsonOption = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """Continue an interrupted, failed or canceled run (what succeeded is not run again), or answer a
    waiting one with --payload. Exit 3 when it waits (again)."""
    if key is not None and payload is None:
        raise fail_usage("--key names the wait a --payload answers: give --payload too")
    try:
        answer = NO_ANSWER if payload is None else read_json_option(payload, "--payload")
    except UsageProblem as exc:
        raise fail_usage(str(exc)) from None
    engine = _engine(store, no_store)

    async def start() -> Run:
        assert engine.store is not None
        run = await engine.resume(await full_run_id(engine.store, run_id), payload=answer, key=key)
        await run.join()
        return run

    raise finish(run_in(engine, start, as_json), as_json)
