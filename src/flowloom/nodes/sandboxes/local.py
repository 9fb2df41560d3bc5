"""``sandbox.exec``: zypi.exec's contract run locally in a bubblewrap sandbox (flowloom's stand-in for a
Firecracker microVM): no network, system directories read-only, a private writable ``/tmp``, the injected
files at their absolute paths, an environment of ``PATH``, ``HOME``, ``LANG`` + ``env`` + the inputs."""

from __future__ import annotations

import time
from typing import ClassVar

from flowloom.engine import NodeContext, NodeResult

from .._kit import Key, KitNode, injected_files, inputs_of, metadata, text_of, timed_out, words
from ._exec import (
    COMMAND,
    ENV,
    EXEC_INPUTS,
    EXEC_OUTPUTS,
    IMAGE,
    MEMORY_MB,
    TIMEOUT,
    VCPUS,
    command_env,
    exec_outputs,
)
from ._process import SANDBOX_PATH, Sandboxed, run_sandboxed


class SandboxExecExecutor(KitNode):
    type: ClassVar[str] = "sandbox.exec"
    keys: ClassVar[tuple[Key, ...]] = (
        Key(name="image", types=IMAGE.types, default=IMAGE.default, description="accepted, unused"),
        COMMAND,
        ENV,
        Key(name="workdir", types=("string",), default="/tmp", description="the command's directory"),
        TIMEOUT,
        MEMORY_MB,
        Key(name="vcpus", types=VCPUS.types, description="accepted, unused"),
    )
    metadata = metadata(
        category="sandbox",
        description=(
            "Runs a command in a local bubblewrap sandbox (no network, read-only system, private /tmp, "
            "injected files, memory and time limits); zypi.exec's contract."
        ),
        keys=keys,
        inputs=EXEC_INPUTS,
        outputs=EXEC_OUTPUTS,
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        env = {"PATH": SANDBOX_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", **command_env(config, inputs)}
        spec = Sandboxed(
            argv=words(config["command"]),
            env=env,
            workdir=config["workdir"],
            files=injected_files(inputs),
            memory_mb=config.get("memory_mb"),
        )
        stdin = inputs.get("stdin")
        timeout = float(config["timeout"])
        started = time.monotonic()
        try:
            done = await run_sandboxed(
                spec, stdin=None if stdin is None else text_of(stdin).encode(), timeout_s=timeout
            )
        except TimeoutError:
            raise timed_out(config["timeout"]) from None
        duration_ms = round((time.monotonic() - started) * 1000)
        return NodeResult(outputs=exec_outputs(done.exit_code, done.stdout, done.stderr, duration_ms))
