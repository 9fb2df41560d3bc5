"""``api.call``: a Python script (an API integration) with its inputs as environment variables. Locally
it runs as ``python3 -c`` in bubblewrap with the network (it is an API client) but nothing else of the
host's: system directories read-only, a fresh working directory, memory and time limits. With
``zypi_url`` it runs through Zypi, after a ``pip install`` of its ``packages``."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeResult
from flowloom.ir import Node

from .._kit import Key, KitNode, failed, inputs_of, metadata, parse_json_or_text, text_of, timed_out
from . import _zypi
from ._exec import command_env
from ._process import SANDBOX_PATH, Sandboxed, run_sandboxed

_WORKDIR = "/tmp/work"


class ApiCallExecutor(KitNode):
    type: ClassVar[str] = "api.call"
    keys: ClassVar[tuple[Key, ...]] = (
        Key(name="script", types=("string",), required=True, description="the Python script"),
        Key(name="packages", types=("array",), default=[], description="pip packages (Zypi only)"),
        Key(name="env", types=("object",), default={}, description="environment variables (strings)"),
        Key(name="timeout", types=("number",), default=60, description="seconds before the script is killed"),
        Key(name="memory_mb", types=("number",), default=256, description="memory limit in MB"),
        Key(name="name", types=("string",), default="api.call", description="names the node in errors"),
        Key(name="zypi_url", types=("string",), description="run through this Zypi server"),
        Key(name="image", types=("string",), default="ubuntu:24.04", description="Zypi's image"),
    )
    metadata = metadata(
        category="api",
        description=(
            "Runs a Python script with its inputs as environment variables, in a local sandbox (network "
            "allowed, host files read-only) or through Zypi; output is its stdout, parsed when JSON."
        ),
        keys=keys,
        inputs=("stdin", "*"),
        outputs=("output", "stdout", "stderr", "duration_ms"),
    )

    def more_config_errors(self, node: Node, config: Mapping[str, Any]) -> list[str]:
        if config.get("packages") and not config.get("zypi_url"):
            return [
                f'node "{node.id}": config key "packages" needs "zypi_url" (packages install only in Zypi)'
            ]
        return []

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        env = command_env(config, inputs)
        stdin = inputs.get("stdin")
        started = time.monotonic()
        if config.get("zypi_url"):
            body = {
                "cmd": ["/usr/bin/python3", "-c", _with_packages(config["script"], config["packages"])],
                "image": config["image"],
                "timeout": config["timeout"],
                "memory_mb": config["memory_mb"],
                "env": env,
            }
            done = await _zypi.execute(
                ctx, config["zypi_url"], body, session_id=None, timeout_s=config["timeout"]
            )
            code, stdout, stderr = done["exit_code"], done["stdout"], done["stderr"]
        else:
            spec = Sandboxed(
                argv=["python3", "-c", config["script"]],
                env={"PATH": SANDBOX_PATH, "HOME": _WORKDIR, "LANG": "C.UTF-8", **env},
                workdir=_WORKDIR,
                memory_mb=config["memory_mb"],
                network=True,
            )
            try:
                local = await run_sandboxed(
                    spec,
                    stdin=None if stdin is None else text_of(stdin).encode(),
                    timeout_s=config["timeout"],
                )
            except TimeoutError:
                raise timed_out(config["timeout"]) from None
            code, stdout, stderr = local.exit_code, local.stdout, local.stderr
        if code != 0:
            raise failed(f"{config['name']} failed (exit {code}): {stderr}")
        duration_ms = round((time.monotonic() - started) * 1000)
        return NodeResult(
            outputs={
                "output": parse_json_or_text(stdout),
                "stdout": stdout,
                "stderr": stderr,
                "duration_ms": duration_ms,
            }
        )


def _with_packages(script: str, packages: list[Any]) -> str:
    """The script, preceded by a ``pip install`` of ``packages`` (its output on stderr) when there are any."""
    if not packages:
        return script
    names = " ".join(shlex.quote(str(name)) for name in packages)
    install = (
        "import os as _o, sys as _y\n"
        f"if _o.system(_y.executable + ' -m pip install -q ' + {names!r} + ' 1>&2'):\n"
        "    _y.exit('pip install failed')\n"
    )
    return install + script
