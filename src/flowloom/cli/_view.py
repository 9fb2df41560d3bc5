"""Showing a run as it goes: a live per-node table on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from flowloom.ir import (
    Event,
    LLMDelta,
    NodeCanceled,
    NodeEvent,
    NodeFailed,
    NodeLog,
    NodeRetrying,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
)

_STYLE = {
    "processing": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "canceled": "magenta",
    "skipped": "dim",
    "retrying": "yellow",
}


@dataclass(slots=True)
class _Row:
    node_type: str
    status: str = "processing"
    runs: int = 0
    started: float = 0.0
    elapsed: float = 0.0
    detail: str = ""
    stream: list[str] = field(default_factory=list)


class RunView:
    """Collects node events into rows; renders them live (``live=True``) or as one line per event."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self._console = console
        self._rows: dict[str, _Row] = {}
        self._streaming: str | None = None  # plain mode: the node whose tokens are being written
        self._live = Live(console=console, refresh_per_second=12, transient=False) if live else None

    def __enter__(self) -> RunView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        if not isinstance(event, NodeEvent):
            return
        row = self._rows.get(event.node_id)
        if row is None:
            row = self._rows[event.node_id] = _Row(event.node_type)
        line = self._apply(row, event)
        if self._live is not None:
            self._live.update(self._table())
        elif isinstance(event, LLMDelta):
            self._stream_plain(event)
        elif line is not None:
            if self._streaming is not None:
                self._console.print()
                self._streaming = None
            self._console.print(line, highlight=False, markup=False)

    def _stream_plain(self, event: LLMDelta) -> None:
        """Tokens as they come, on one line per node."""
        if self._streaming != event.node_id:
            if self._streaming is not None:
                self._console.print()
            self._console.print(f"{event.node_id:<24} streaming  ", end="", highlight=False, markup=False)
            self._streaming = event.node_id
        self._console.print(event.text, end="", highlight=False, markup=False, soft_wrap=True)
        self._console.file.flush()

    def _apply(self, row: _Row, event: NodeEvent) -> str | None:
        node = event.node_id + (f"[{','.join(map(str, event.scope))}]" if event.scope else "")
        if isinstance(event, NodeStarted):
            row.status, row.started = "processing", event.at
            row.runs += 1
            return None
        if isinstance(event, NodeSucceeded):
            row.status, row.elapsed = "succeeded", event.duration_s
            suffix = f" -> {event.branch}" if event.branch else ""
            return f"{node:<24} succeeded  {_ms(event.duration_s)}{suffix}"
        if isinstance(event, NodeFailed):
            row.status, row.elapsed, row.detail = "failed", event.duration_s, event.error
            return f"{node:<24} failed     {_ms(event.duration_s)}  {event.error}"
        if isinstance(event, NodeRetrying):
            row.status, row.detail = "retrying", f"attempt {event.attempt} failed: {event.error}"
            return f"{node:<24} retrying   in {event.delay_s:g}s after: {event.error}"
        if isinstance(event, NodeSkipped):
            row.status, row.detail = "skipped", event.reason
            return f"{node:<24} skipped    ({event.reason})"
        if isinstance(event, NodeCanceled):
            row.status = "canceled"
            return f"{node:<24} canceled"
        if isinstance(event, LLMDelta):
            row.stream.append(event.text)
            return None
        if isinstance(event, NodeLog):
            row.detail = event.line
            return f"{node:<24} {event.stream}: {event.line}"
        return None

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("node", "type", "status", "runs", "time", ""):
            table.add_column(column)
        now = time.time()
        for node_id, row in self._rows.items():
            elapsed = now - row.started if row.status == "processing" else row.elapsed
            detail = "".join(row.stream)[-80:] if row.stream else row.detail
            table.add_row(
                node_id,
                row.node_type,
                Text(row.status, style=_STYLE.get(row.status, "")),
                str(row.runs),
                _ms(elapsed),
                Text(detail, overflow="ellipsis", no_wrap=True),
            )
        return table


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 10 else f"{seconds:.1f}s"
