"""``zypi.exec`` and ``zypi.session_create``: clients of Zypi's REST API (flowengine's ``zypi.rs``)."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeResult

from .._kit import Key, KitNode, failed, injected_files, inputs_of, metadata, words
from . import _zypi
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

URL = Key(name="url", types=("string",), default=_zypi.DEFAULT_URL, description="Zypi's base URL")


class ZypiExecExecutor(KitNode):
    type: ClassVar[str] = "zypi.exec"
    keys: ClassVar[tuple[Key, ...]] = (
        URL,
        IMAGE,
        COMMAND,
        Key(name="session_id", types=("string",), description="run in this session"),
        ENV,
        Key(name="workdir", types=("string",), description="the command's directory"),
        TIMEOUT,
        MEMORY_MB,
        VCPUS,
    )
    metadata = metadata(
        category="zypi",
        description=(
            "Runs a command in a Zypi sandbox (POST <url>/exec, or in a session): inputs become "
            "environment variables, files are injected; a non-zero exit is a result."
        ),
        keys=keys,
        inputs=EXEC_INPUTS,
        outputs=(*EXEC_OUTPUTS, "session_id"),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        body: dict[str, Any] = {
            "cmd": words(config["command"]),
            "image": config["image"],
            "timeout": config["timeout"],
        }
        env = command_env(config, inputs)
        if env:
            body["env"] = env
        for name in ("workdir", "memory_mb", "vcpus"):
            if config.get(name) is not None:
                body[name] = config[name]
        files = injected_files(inputs)
        if files:
            body["files"] = files
        session = inputs.get("session_id") or config.get("session_id")
        session_id = str(session) if session else None
        done = await _zypi.execute(
            ctx, config["url"], body, session_id=session_id, timeout_s=config["timeout"]
        )
        outputs = exec_outputs(done["exit_code"], done["stdout"], done["stderr"], done["duration_ms"])
        if session_id:
            outputs["session_id"] = session_id
        return NodeResult(outputs=outputs)


class ZypiSessionCreateExecutor(KitNode):
    type: ClassVar[str] = "zypi.session_create"
    keys: ClassVar[tuple[Key, ...]] = (
        URL,
        IMAGE,
        Key(name="agent_id", types=("string",), description="the agent the session belongs to"),
        Key(name="vcpus", types=("number",), default=1, description="virtual CPUs"),
        Key(name="memory_mb", types=("number",), default=256, description="memory in MB"),
    )
    metadata = metadata(
        category="zypi",
        description="Creates a Zypi session (POST <url>/sessions) for later zypi.exec nodes.",
        keys=keys,
        inputs=(),
        outputs=("session_id", "container_id", "ip", "image", "duration_ms"),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        body = {name: config[name] for name in ("image", "vcpus", "memory_mb", "agent_id")}
        status, answer, elapsed_ms = await _zypi.post(ctx, config["url"], "/sessions", body, timeout_s=30)
        if status != 201:
            raise failed(f"Zypi session create error ({status}): {_zypi.error_text(answer)}")
        if not isinstance(answer, dict) or not isinstance(answer.get("session_id"), str):
            raise failed("Failed to parse Zypi response: no session_id")
        return NodeResult(
            outputs={
                "session_id": answer["session_id"],
                "container_id": answer.get("container_id"),
                "ip": answer.get("ip"),
                "image": answer.get("image", config["image"]),
                "duration_ms": round(elapsed_ms),
            }
        )
