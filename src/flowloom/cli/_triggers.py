"""``flowloom triggers``: the triggers of the workflows saved in the store (what ``flowloom serve`` runs)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from flowloom.ir import RunStore

from ._runs import _engine, _read
from ._store import NoStoreOption, StoreOption

triggers_app = typer.Typer(
    name="triggers", help="Triggers of saved workflows: cron, webhook, event, manual.", no_args_is_help=True
)


@triggers_app.command("list")
def list_triggers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")] = False,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """Every trigger of every saved workflow: its workflow, kind, spec, and for cron the next fire time."""
    engine = _engine(store, no_store)
    # the trigger book lives with the server that runs the triggers; imported only for this command
    from flowloom.server._trigger_book import TriggerBook

    async def read(s: RunStore) -> list[dict[str, Any]]:
        last = await s.last_trigger_fires()
        now = time.time()
        return [
            t.listing(last.get((t.workflow_id, t.key)), now) for t in await TriggerBook(engine).triggers()
        ]

    listed: list[dict[str, Any]] = _read(engine, read)
    if as_json:
        sys.stdout.write(json.dumps(listed, ensure_ascii=False) + "\n")
        return
    # one line per trigger, the spec last: it is as long as it is (a table would cut it on a narrow terminal)
    rows = [("WORKFLOW", "TRIGGER", "KIND", "NEXT FIRE", "LAST FIRED", "SPEC")]
    for found in listed:
        spec = {k: v for k, v in found["spec"].items() if k not in ("kind", "id", "enabled")}
        rows.append(
            (
                found["workflow_id"],
                found["key"],
                found["kind"] if found["enabled"] else f"{found['kind']} (off)",
                found["next_fire_at"] or "-",
                found["last_fired_at"] or "-",
                " ".join(f"{key}={_shown(value)}" for key, value in spec.items()),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[5]]).rstrip() + "\n")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
