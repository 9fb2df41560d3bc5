"""``flowloom init``: write a working example workflow to start from."""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from ._output import console, fail_usage


class InitFormat(StrEnum):
    FLOWENGINE = "flowengine"
    FLOWGRAM = "flowgram"


def init(
    workflow_format: Annotated[
        InitFormat, typer.Option("--format", help="The example's format.")
    ] = InitFormat.FLOWENGINE,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it [default: workflow.json]", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an example workflow (flowengine or flowgram JSON) that `flowloom run` runs as it is."""
    target = output or Path("workflow.json")
    if target.exists() and not force:
        raise fail_usage(f"{target} exists already; pass --force to overwrite it")
    text = files("flowloom.cli").joinpath("templates", f"{workflow_format}.json").read_text(encoding="utf-8")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail_usage(f"cannot write {target}: {exc.strerror or exc}") from None
    console().print(f"wrote {target}; run it with: flowloom run {target}", highlight=False)
