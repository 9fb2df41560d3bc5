"""``shell.exec``: runs a command in its own process group, on the event loop (anyio), stdin closed unless
given (F6), stdout/stderr captured exactly (F9) and, with ``stream_output``, streamed line by line as
NodeLog events while it runs. A timeout or a cancel kills the whole group: nothing is left behind (F8)."""

from __future__ import annotations

import os
import signal
import subprocess as _sp  # only for its PIPE/DEVNULL constants: the process is anyio's
from collections.abc import Mapping
from typing import Any, ClassVar

import anyio
from anyio.abc import ByteReceiveStream, Process

from flowloom.engine import NodeContext, NodeMetadata, NodeResult
from flowloom.ir import Node

from .._kit import (
    Key,
    KitNode,
    failed,
    inputs_as_env,
    inputs_of,
    metadata,
    parse_json_or_text,
    text_of,
    time_limit,
    timed_out,
)
from ._command import run_command

_CHUNK = 1 << 16
_KEYS = (
    Key(name="command", types=("string",), required=True, description="the program (or shell text)"),
    Key(
        name="args",
        types=("array", "string"),
        default=[],
        description="arguments; a string is split on whitespace",
    ),
    Key(name="env", types=("object",), default={}, description="extra environment variables"),
    Key(
        name="env_passthrough",
        types=("array",),
        default=[],
        description="variables kept from the engine's environment",
    ),
    Key(
        name="workdir",
        types=("string",),
        default=None,
        description="working directory (default: the engine's)",
    ),
    Key(
        name="timeout",
        types=("number",),
        default=None,
        description="seconds per attempt; kills the process group",
    ),
    Key(name="shell", types=("boolean",), default=False, description="run through sh -c"),
    Key(name="capture_stdout", types=("boolean",), default=True),
    Key(name="capture_stderr", types=("boolean",), default=True),
    Key(
        name="stream_output",
        types=("boolean",),
        default=False,
        description="one NodeLog per line as it is written",
    ),
    Key(name="strip_trailing_newline", types=("boolean",), default=True, description="of stdout"),
    Key(name="fail_on_error", types=("boolean",), default=True, description="a non-zero exit fails the node"),
    Key(name="stdin", types=("string",), default=None, description="used when no stdin input arrives"),
)
OUTPUTS = ("output", "stdout", "stderr", "exit_code", "success")


class ShellExecExecutor(KitNode):
    type: ClassVar[str] = "shell.exec"
    keys: ClassVar[tuple[Key, ...]] = _KEYS
    metadata: ClassVar[NodeMetadata] = metadata(
        category="shell",
        description="Run a command; stdout/stderr captured (and streamed), inputs as environment variables.",
        keys=_KEYS,
        inputs=("stdin",),
        outputs=OUTPUTS,
    )

    def more_config_errors(self, node: Node, config: Mapping[str, Any]) -> list[str]:
        timeout = config.get("timeout")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout <= 0:
            return [f'node "{node.id}": config key "timeout" must be a positive number of seconds']
        return []

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        argv = _argv(config)
        env = {str(k): text_of(v) for k, v in config["env"].items()}
        env.update(inputs_as_env(inputs, skip=("stdin",)))
        stdin_value = inputs.get("stdin")
        if stdin_value is None or stdin_value == "":
            stdin_value = config["stdin"]
        stdin = b"" if stdin_value in (None, "") else text_of(stdin_value).encode("utf-8")
        timeout = config["timeout"]
        if ctx.workers.remote:
            code, stdout, stderr = await _elsewhere(ctx, argv, env, config, stdin)
        else:
            run = _Run(ctx, stream=config["stream_output"])
            with time_limit(timeout):
                code = await run.run(argv, {**os.environ, **env}, config["workdir"], stdin)
            stdout, stderr = run.text(1), run.text(2)
        stdout = stdout if config["capture_stdout"] else ""
        stderr = stderr if config["capture_stderr"] else ""
        if config["strip_trailing_newline"]:
            stdout = stdout.rstrip("\n")
        if code != 0 and config["fail_on_error"]:
            raise failed(f"Command exited with code {code}")
        outputs = {
            "output": parse_json_or_text(stdout),
            "stdout": stdout,
            "stderr": stderr,
            "exit_code": code,
            "success": code == 0,
        }
        return NodeResult(outputs)


async def _elsewhere(
    ctx: NodeContext, argv: list[str], env: dict[str, str], config: Mapping[str, Any], stdin: bytes
) -> tuple[int, str, str]:
    """The command run to its end by the engine's workers on another machine; its lines are logged when it
    has ended (nothing streams back while it runs). Canceling releases the call; the command itself stops
    at its timeout at the latest."""
    timeout = config["timeout"]
    finished = await ctx.workers.call(run_command, argv, env, config["workdir"], stdin, timeout)
    if finished.spawn_error is not None:
        raise failed(f"Failed to spawn process: {finished.spawn_error}")
    if finished.code is None:
        raise timed_out(timeout)
    stdout = finished.stdout.decode("utf-8", errors="replace")
    stderr = finished.stderr.decode("utf-8", errors="replace")
    if config["stream_output"] and ctx.observed:
        for text, name in ((stdout, "stdout"), (stderr, "stderr")):
            for line in text.splitlines():
                ctx.log(line, name)
    return finished.code, stdout, stderr


def _argv(config: Mapping[str, Any]) -> list[str]:
    args = config["args"]
    words = args.split() if isinstance(args, str) else [text_of(a) for a in args]
    if config["shell"]:
        return ["sh", "-c", " ".join([config["command"], *words])]
    return [config["command"], *words]


class _Run:
    """One process: its output read as it comes, lines streamed, the group killed on the way out."""

    def __init__(self, ctx: NodeContext, *, stream: bool) -> None:
        self.ctx = ctx
        self.stream = stream and ctx.observed
        self.chunks: dict[int, list[bytes]] = {1: [], 2: []}

    def text(self, fd: int) -> str:
        return b"".join(self.chunks[fd]).decode("utf-8", errors="replace")

    async def run(self, argv: list[str], env: dict[str, str], workdir: str | None, stdin: bytes) -> int:
        try:
            process = await anyio.open_process(
                argv,
                stdin=_sp.PIPE if stdin else _sp.DEVNULL,
                stdout=_sp.PIPE,
                stderr=_sp.PIPE,
                cwd=workdir,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as exc:
            raise failed(f"Failed to spawn process: {exc.strerror or exc} (os error {exc.errno})") from exc
        try:
            async with anyio.create_task_group() as tg:
                assert process.stdout is not None and process.stderr is not None
                tg.start_soon(self._read, process.stdout, 1)
                tg.start_soon(self._read, process.stderr, 2)
                if stdin:
                    tg.start_soon(_feed, process, stdin)
                code = await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _kill_group(process)
        return code

    async def _read(self, stream: ByteReceiveStream, fd: int) -> None:
        chunks = self.chunks[fd]
        name = "stdout" if fd == 1 else "stderr"
        pending = b""
        while True:
            try:
                chunk = await stream.receive(_CHUNK)
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                break
            chunks.append(chunk)
            if self.stream:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    self.ctx.log(line.decode("utf-8", errors="replace"), name)
        if self.stream and pending:
            self.ctx.log(pending.decode("utf-8", errors="replace"), name)


async def _feed(process: Process, data: bytes) -> None:
    assert process.stdin is not None
    try:
        await process.stdin.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass  # the program ended without reading it all
    finally:
        await process.stdin.aclose()


async def _kill_group(process: Process) -> None:
    """Kill the process and everything it started (same group), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    await process.wait()
    await process.aclose()
