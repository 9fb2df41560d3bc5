"""``flowloom run`` on a flowengine workflow: the result object and the events of flowengine's users
(``../shared/conformance/flowengine/README.md``). The run goes through the engine as any other (which also
starts it over under ``RetryWorkflow``); SIGINT/SIGTERM cancel it and the result is still printed."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from json.encoder import encode_basestring
from typing import Any

import anyio

from flowloom.engine import CompiledWorkflow, Engine, Run
from flowloom.formats import Source, default_formats, read_document
from flowloom.formats.flowengine import EventLines, FlowengineFormat, max_attempts_of, result_object
from flowloom.ir import Event, InvalidWorkflowError, NodeLog, RunFinished, event_json


def flowengine_document(source: Source, workflow_format: str | None) -> Any | None:
    """The parsed document when ``source`` is a flowengine workflow (named or detected), else ``None``."""
    if workflow_format not in (None, FlowengineFormat.name):
        return None
    try:
        document, _digest = read_document(source)
        detected = default_formats().detect(document)
    except InvalidWorkflowError:
        return None
    if workflow_format == FlowengineFormat.name or detected.name == FlowengineFormat.name:
        return document
    return None


class _Outcome:
    def __init__(self) -> None:
        self.run: Run | None = None
        self.signal: str | None = None


async def run_flowengine(
    engine: Engine, source: Source, inputs: dict[str, Any], *, jsonl: bool
) -> tuple[dict[str, Any], int]:
    """Run the workflow; print its events with ``jsonl``. Returns the result object and the exit code."""
    compiled = engine.load(source, format=FlowengineFormat.name)
    outcome = _Outcome()
    printer = _EventLines(compiled, outcome) if jsonl else None
    remove = engine.bus.add_listener(printer) if printer is not None else None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_signal, outcome)
            run = outcome.run = engine.start(compiled, inputs)  # RetryWorkflow: the engine starts it over
            await run.join()
            tg.cancel_scope.cancel()
    finally:
        if remove is not None:
            remove()
    assert outcome.run is not None
    result = result_object(compiled.workflow, outcome.run, outcome.signal)
    if printer is not None:
        printer.write(
            {
                "type": "RunFinished",
                "run_id": result["run_id"],
                "status": result["status"],
                "error": result["error"],
            }
        )
    return result, 0 if result["status"] == "succeeded" else 1


async def _cancel_on_signal(outcome: _Outcome) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            outcome.signal = signal.Signals(signum).name
            if outcome.run is not None:
                outcome.run.cancel()


def print_result(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class _EventLines:
    """The engine's events of the current run as flowengine's users see them, one JSON line each."""

    def __init__(self, compiled: CompiledWorkflow, outcome: _Outcome) -> None:
        self.outcome = outcome
        self.retries = max_attempts_of(compiled.workflow)
        self._lines: tuple[str, EventLines] | None = None
        self.out = sys.stdout
        self._flush_pending = False
        self._log_heads: dict[tuple[str, str], str] = {}

    def write(self, line: dict[str, Any]) -> None:
        self._text(json.dumps(line, ensure_ascii=False, separators=(",", ":")))

    def _text(self, text: str) -> None:
        """Buffered, and flushed once the loop has run what is ready: a burst of lines (a shell node
        emits a whole chunk of output at once) costs one write, and nothing waits longer than that."""
        self.out.write(text + "\n")
        if not self._flush_pending:
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop: at once
                self._flush()

    def _flush(self) -> None:
        self._flush_pending = False
        self.out.flush()

    def __call__(self, event: Event) -> None:
        run = self.outcome.run
        if run is None or event.run_id != run.id:
            return
        if type(event) is NodeLog:  # the hot path: written field by field
            head = self._log_heads.get((event.node_id, event.stream))
            if head is None:
                head = self._log_heads[(event.node_id, event.stream)] = (
                    '{"type":"NodeLog","node_id":'
                    + encode_basestring(event.node_id)
                    + ',"stream":'
                    + encode_basestring(event.stream)
                    + ',"line":'
                )
            self._text(head + encode_basestring(event.line) + "}")
            return
        line = self._line(event, run)
        if line is not None:
            self.write(line)

    def _line(self, event: Event, run: Run) -> dict[str, Any] | None:
        if type(event) is RunFinished:
            return None  # written after the result is known
        if self._lines is None or self._lines[0] != run.id:
            self._lines = (run.id, EventLines(self.retries, run.node_state))
        return self._lines[1].line(type(event).__name__, event_json(event))
