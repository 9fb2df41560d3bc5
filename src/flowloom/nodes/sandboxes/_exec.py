"""What ``zypi.exec`` and ``sandbox.exec`` share: their config keys, the environment and files a command
gets from its inputs, and the outputs of a finished command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._kit import Key, inputs_as_env, parse_json_or_text

COMMAND = Key(
    name="command",
    types=("array", "string"),
    required=True,
    description="the command: an array, or a string split on whitespace",
)
ENV = Key(name="env", types=("object",), default={}, description="environment variables (strings)")
MEMORY_MB = Key(name="memory_mb", types=("number",), description="memory limit in MB")
VCPUS = Key(name="vcpus", types=("number",), description="virtual CPUs")
TIMEOUT = Key(
    name="timeout", types=("number",), default=300, description="seconds before the command is killed"
)
IMAGE = Key(name="image", types=("string",), default="ubuntu:24.04", description="the sandbox's image")

EXEC_INPUTS = ("stdin", "files", "file:<path>", "session_id", "*")
EXEC_OUTPUTS = ("output", "stdout", "stderr", "exit_code", "success", "duration_ms")
_NOT_ENV = ("files", "session_id")


def command_env(config: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, str]:
    """Config ``env`` overridden by the inputs (upper-cased; not ``files``, ``file:*``, ``session_id``)."""
    env = {str(name): str(value) for name, value in (config.get("env") or {}).items()}
    env.update(inputs_as_env(inputs, skip=_NOT_ENV))
    return env


def exec_outputs(exit_code: int, stdout: str, stderr: str, duration_ms: Any) -> dict[str, Any]:
    return {
        "output": parse_json_or_text(stdout),
        "stdout": stdout,
        "stderr": stderr,
        "exit_code": exit_code,
        "success": exit_code == 0,
        "duration_ms": duration_ms,
    }
