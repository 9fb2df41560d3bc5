"""What the flowengine-style node families share (``automation``, ``browser``, ``containers``,
``sandboxes``): their config (``node.data["config"]``, plain JSON, checked before the run by
``config_errors``), their inputs (a node marked ``root`` gets the run's inputs), flowengine's error texts,
and the text of a value.

Node data follows the flowengine format's convention: ``{"config": {...}, "root": true}``; in flowloom's
own JSON a node writes its config the same way and gets its inputs through ``inputs_values``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio

from flowloom.engine import ConfigKey, NodeContext, NodeError, NodeMetadata, NodeTimeout, Traits
from flowloom.ir import Node

CONFIG = "config"
ROOT = "root"  # set by the flowengine format: the node has no incoming connection
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    """One config key: its JSON types (any when empty), whether it is required, its default, and the
    values it may take (``choices``). ``fold`` (``str.lower``, ``str.upper``) is applied to a value before
    it is compared with ``choices``, which are written folded; the node folds it the same way when it reads
    it. Without ``fold`` a value must be one of ``choices`` exactly."""

    name: str
    types: tuple[str, ...] = ()
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    fold: Callable[[str], str] | None = None
    description: str = ""

    def declared(self) -> ConfigKey:
        return ConfigKey(
            name=self.name,
            type="|".join(self.types) or "any",
            description=self.description,
            required=self.required,
            default=self.default,
        )


def metadata(
    *, category: str, description: str, keys: Sequence[Key], inputs: Sequence[str], outputs: Sequence[str]
) -> NodeMetadata:
    return NodeMetadata(
        category=category,
        description=description,
        config=tuple(key.declared() for key in keys),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )


class KitNode:
    """Base of these executors: free output ports, roots and sinks of a graph, config checked up front
    (``config_errors``) and read with its defaults (``config``)."""

    keys: ClassVar[tuple[Key, ...]] = ()
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True)

    def config_errors(self, node: Node) -> list[str]:
        """Every problem of the node's config, each naming the node and the key."""
        config = node.data.get(CONFIG, {})
        if not isinstance(config, Mapping):
            return [f'node "{node.id}": config must be an object']
        errors: list[str] = []
        for key in self.keys:
            value = config.get(key.name)
            if value is None:
                if key.required:
                    errors.append(f'node "{node.id}": config key "{key.name}" is required')
                continue
            if (
                key.types
                and not _secret_string(value, key.types)
                and not any(_is(value, k) for k in key.types)
            ):
                errors.append(
                    f'node "{node.id}": config key "{key.name}" must be {" or ".join(key.types)}, '
                    f"got {json_type(value)}"
                )
            elif key.choices and isinstance(value, str) and _folded(key, value) not in key.choices:
                errors.append(
                    f'node "{node.id}": config key "{key.name}" is "{value}", expected one of '
                    + ", ".join(key.choices)
                )
        errors.extend(self.more_config_errors(node, config))
        return errors

    def more_config_errors(self, node: Node, config: Mapping[str, Any]) -> list[str]:
        return []

    def config(self, ctx: NodeContext) -> dict[str, Any]:
        """The node's config with every key's default filled in. A config the check above would refuse
        (the engine does not check it for every format yet) fails the node with the first problem."""
        errors = self.config_errors(ctx.node)
        if errors:
            raise NodeError(f"Configuration error: {errors[0]}")
        given = ctx.data.get(CONFIG) or {}
        found = {key.name: key.default for key in self.keys}
        found.update({k: v for k, v in given.items() if v is not None})
        return dict(ctx.with_secrets(found))  # secrets by name, read now: {"type": "secret", "content": NAME}


def inputs_of(ctx: NodeContext) -> dict[str, Any]:
    """The node's inputs: from its connections, or the run's inputs for a root node."""
    if ctx.data.get(ROOT):
        return dict(ctx.run_inputs)
    return dict(ctx.inputs)


def _folded(key: Key, value: str) -> str:
    return value if key.fold is None else key.fold(value)


def _secret_string(value: Any, types: Sequence[str]) -> bool:
    """A secret by name where a string belongs: ``{"type": "secret", "content": NAME}``."""
    return "string" in types and isinstance(value, Mapping) and value.get("type") == "secret"


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, _JSON_TYPES[kind])


def json_type(value: Any) -> str:
    """The JSON type of ``value`` as errors name it (deviation F18)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def compact(value: Any) -> str:
    """Compact JSON, keys in their order, integral numbers without a fraction (F11)."""
    return json.dumps(_integral(value), ensure_ascii=False, separators=(",", ":"))


def text_of(value: Any) -> str:
    """A string as it is; anything else as compact JSON."""
    return value if isinstance(value, str) else compact(value)


def inputs_as_env(inputs: Mapping[str, Any], skip: Sequence[str] = ()) -> dict[str, str]:
    """Inputs as environment variables (F10): upper-cased port names that are valid names; null is not set;
    ports in ``skip`` are left out, and so are ``file:<path>`` ports (files, see ``injected_files``)."""
    env: dict[str, str] = {}
    for port, value in inputs.items():
        name = port.upper()
        if port in skip or port.startswith("file:") or value is None or not _ENV_NAME.fullmatch(name):
            continue
        env[name] = text_of(value)
    return env


def injected_files(inputs: Mapping[str, Any]) -> dict[str, str]:
    """Files to inject: the ``files`` input (path -> text) and every ``file:<path>`` input."""
    files: dict[str, str] = {}
    given = inputs.get("files")
    if isinstance(given, Mapping):
        files.update({str(path): text_of(content) for path, content in given.items()})
    for port, value in inputs.items():
        if port.startswith("file:") and value is not None:
            files[port[len("file:") :]] = text_of(value)
    return files


def words(value: Any) -> list[str]:
    """A command: an array (each element as text) or a string split on whitespace."""
    if isinstance(value, str):
        return value.split()
    return [text_of(item) for item in value or ()]


def seconds_text(value: float) -> str:
    """A number of seconds as it was written: ``1``, ``0.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def missing_input(port: str) -> NodeError:
    return NodeError(f"Missing required input: {port}")


def wrong_input(port: str, expected: str, value: Any) -> NodeError:
    return NodeError(f"Invalid input type for '{port}': expected {expected}, got {json_type(value)}")


def failed(message: str) -> NodeError:
    return NodeError(f"Execution failed: {message}")


def timed_out(seconds: float) -> NodeTimeout:
    return NodeTimeout(f"Timeout after {seconds_text(seconds)}s")


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """A node's ``timeout`` config: the body is canceled after ``seconds`` (``None``: no limit) and the
    node fails with flowengine's timeout text. What the body must undo (a process, a container) it undoes
    in a ``finally`` under ``anyio.CancelScope(shield=True)``: that runs on a timeout and on a cancel."""
    with anyio.move_on_after(seconds) as scope:
        yield
    if scope.cancelled_caught:
        assert seconds is not None  # only its deadline cancels this scope
        raise timed_out(seconds)


def parse_json_or_text(text: str) -> Any:
    """The whole text parsed as JSON if it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
