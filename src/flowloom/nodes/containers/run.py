"""``docker.run``: one container through the Docker Engine API, with flowengine's config vocabulary
(image, command, entrypoint, env, volumes, workdir, user, network, cpu_limit, memory_limit, stdin_mode,
output_mode, io_mode, auto_pull, detached, remove, timeout)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from flowloom.engine import NodeContext, NodeError, NodeResult
from flowloom.ir import Node

from .._kit import Key, KitNode, compact, failed, inputs_of, metadata, missing_input, text_of, time_limit
from ._client import DockerClient, DockerError

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TAGS = {str: "String", bool: "Bool", int: "Number", float: "Number"}


class DockerRunExecutor(KitNode):
    type: ClassVar[str] = "docker.run"
    keys: ClassVar[tuple[Key, ...]] = (
        Key(name="image", types=("string",), required=True, description="the image to run"),
        Key(
            name="command",
            types=("string", "array"),
            description="a string split like a POSIX shell, or an array",
        ),
        Key(
            name="entrypoint",
            types=("string", "array"),
            description="the entrypoint; extra elements go before command",
        ),
        Key(name="env", types=("object",), default={}, description="environment variables"),
        Key(name="volumes", types=("array",), default=[], description='bind mounts "host:container[:ro]"'),
        Key(name="workdir", types=("string",), description="the working directory"),
        Key(name="user", types=("string", "number"), description="user (name or uid[:gid])"),
        Key(name="network", types=("string",), description="network mode (none, host, bridge, ...)"),
        Key(name="cpu_limit", types=("string", "number"), description="CPUs, e.g. 0.5"),
        Key(name="memory_limit", types=("string", "number"), description="memory, e.g. 256m"),
        Key(
            name="stdin_mode",
            types=("string",),
            default="json",
            choices=("none", "raw", "json", "text"),
            fold=str.lower,
            description="what stdin gets",
        ),
        Key(
            name="output_mode",
            types=("string",),
            default="auto",
            choices=("auto", "json", "text"),
            fold=str.lower,
            description="how stdout becomes output",
        ),
        Key(
            name="io_mode",
            types=("string",),
            default="auto",
            choices=("auto", "flat", "wrapped"),
            fold=str.lower,
            description="json stdin: plain or tagged values",
        ),
        Key(
            name="auto_pull",
            types=("boolean",),
            default=True,
            description="pull the image when it is missing",
        ),
        Key(
            name="detached",
            types=("boolean",),
            default=False,
            description="start and return the container id",
        ),
        Key(name="remove", types=("boolean",), default=True, description="remove the container afterwards"),
        Key(name="timeout", types=("number",), description="seconds before the container is killed"),
    )
    metadata = metadata(
        category="docker",
        description=(
            "Runs a container through the Docker Engine API (Docker or Podman): inputs on stdin, stdout "
            "parsed as JSON when it can be; a non-zero exit is a result."
        ),
        keys=keys,
        inputs=("data", "*"),
        outputs=("output", "stdout", "stderr", "exit_code", "success"),
    )

    def more_config_errors(self, node: Node, config: Mapping[str, Any]) -> list[str]:
        errors = []
        for name in ("memory_limit", "cpu_limit"):
            value = config.get(name)
            size = name == "memory_limit"
            if isinstance(value, str) and not (_SIZE.fullmatch(value) if size else _is_number(value)):
                expected = "size" if size else "number"
                errors.append(f'node "{node.id}": config key "{name}" is "{value}", not a {expected}')
        return errors

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        stdin = _stdin(config, inputs)
        client = _client(ctx)
        image = str(config["image"])
        try:
            await _ensure_image(client, image, auto_pull=bool(config["auto_pull"]))
            container = await client.create(_spec(config, client, stdin is not None))
        except DockerError as exc:
            raise _docker_failed(exc, image) from exc
        if config["detached"]:
            try:
                await client.start(container)
            except DockerError as exc:
                await client.remove(container)
                raise _docker_failed(exc, image) from exc
            return NodeResult(outputs=_outputs(config, container + "\n", "", 0))
        try:
            with time_limit(config.get("timeout")):
                code = await _run(client, container, stdin)
            out, err = await client.logs(container)
        except DockerError as exc:
            raise _docker_failed(exc, image) from exc
        finally:
            with anyio.CancelScope(shield=True):
                await client.kill(container)
                if config["remove"]:
                    await client.remove(container)
        return NodeResult(
            outputs=_outputs(config, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code)
        )


async def _run(client: DockerClient, container: str, stdin: bytes | None) -> int:
    if stdin is None:
        await client.start(container)
        return await client.wait(container)
    async with client.stdin_of(container) as send:
        await client.start(container)
        await send(stdin)
        return await client.wait(container)


def _client(ctx: NodeContext) -> DockerClient:
    lazy = ctx.services.containers
    if lazy is None:
        raise NodeError("Execution failed: no container engine is configured for this engine")
    client = lazy.get()
    assert isinstance(client, DockerClient)
    return client


async def _ensure_image(client: DockerClient, image: str, *, auto_pull: bool) -> None:
    if await client.image_exists(image):
        return
    if not auto_pull:
        raise DockerError(404, f'no such image "{image}" (config key "image"; auto_pull is off)')
    try:
        await client.pull(image)
    except DockerError as exc:
        raise DockerError(
            exc.status, f'cannot pull image "{image}" (config key "image"): {exc.message}'
        ) from exc


def _docker_failed(exc: DockerError, image: str) -> NodeError:
    message = exc.message
    if exc.status == 404 and image in message and "config key" not in message:
        message = f'no such image "{image}" (config key "image"): {message}'
    return failed(f"Docker error: {message}")


def _stdin(config: Mapping[str, Any], inputs: Mapping[str, Any]) -> bytes | None:
    mode = str(config["stdin_mode"]).lower()
    if mode == "none":
        return None
    if mode in ("raw", "text"):
        if inputs.get("data") is None:
            raise missing_input("data")
        return text_of(inputs["data"]).encode()
    if str(config["io_mode"]).lower() == "wrapped":
        return compact({port: _tagged(value) for port, value in inputs.items()}).encode()
    return compact(dict(inputs)).encode()


def _tagged(value: Any) -> dict[str, Any]:
    """flowengine's tagged form of a value: strings String, numbers Number, booleans Bool, null Null,
    objects and arrays Json."""
    if value is None:
        return {"type": "Null"}
    return {"type": _TAGS.get(type(value), "Json"), "value": value}


def _spec(config: Mapping[str, Any], client: DockerClient, with_stdin: bool) -> dict[str, Any]:
    command = _split(config.get("command"))
    entrypoint = _split(config.get("entrypoint"))
    host: dict[str, Any] = {"Ulimits": [limit.to_api() for limit in client.ulimits]}
    spec: dict[str, Any] = {"Image": config["image"], "HostConfig": host}
    if entrypoint:
        spec["Entrypoint"] = entrypoint[:1]
        command = entrypoint[1:] + command
    if command:
        spec["Cmd"] = command
    if config["env"]:
        spec["Env"] = [f"{name}={text_of(value)}" for name, value in config["env"].items()]
    if config.get("workdir"):
        spec["WorkingDir"] = config["workdir"]
    if config.get("user") is not None:
        spec["User"] = text_of(config["user"])
    if with_stdin:
        spec |= {"OpenStdin": True, "StdinOnce": True, "AttachStdin": True}
    if config["volumes"]:
        host["Binds"] = [str(volume) for volume in config["volumes"]]
    if config.get("network"):
        host["NetworkMode"] = config["network"]
    if config.get("cpu_limit") is not None:
        host["NanoCpus"] = int(float(config["cpu_limit"]) * 1e9)
    if config.get("memory_limit") is not None:
        host["Memory"] = host["MemorySwap"] = _bytes(config["memory_limit"])
    if config["detached"] and config["remove"]:
        host["AutoRemove"] = True
    return spec


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [text_of(item) for item in value]


def _bytes(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.fullmatch(str(value))
    assert match is not None  # checked with the config
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _outputs(config: Mapping[str, Any], stdout: str, stderr: str, code: int) -> dict[str, Any]:
    mode = str(config["output_mode"]).lower()
    if mode == "text":
        output: Any = stdout
    else:
        try:
            output = json.loads(stdout)
        except ValueError as exc:
            if mode == "json":
                raise failed(f"Failed to parse JSON output: {exc}") from exc
            output = stdout
    return {"output": output, "stdout": stdout, "stderr": stderr, "exit_code": code, "success": code == 0}
