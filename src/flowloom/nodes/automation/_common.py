"""What the automation nodes share: their config (``node.data["config"]``, plain JSON, checked before the
run by ``config_errors``), their inputs (a node without incoming connections gets the run's inputs),
flowengine's error texts, and the text of a value."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

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
    """One config key: its JSON types (``any`` when empty), whether it is required, its default, and the
    values it may take (compared case-insensitively when ``fold``)."""

    name: str
    types: tuple[str, ...] = ()
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    fold: bool = False
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


class AutomationNode:
    """Base of the automation executors: roots and sinks of a flowengine graph, config checked up front."""

    keys: ClassVar[tuple[Key, ...]] = ()
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True)

    def config_errors(self, node: Node) -> list[str]:
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
                and not any(_is(value, t) for t in key.types)
            ):
                errors.append(
                    f'node "{node.id}": config key "{key.name}" must be {" or ".join(key.types)}, '
                    f"got {json_type(value)}"
                )
            elif key.choices and isinstance(value, str):
                found = value.upper() if key.fold else value
                if found not in key.choices:
                    errors.append(
                        f'node "{node.id}": config key "{key.name}" is "{value}", expected one of '
                        + ", ".join(key.choices)
                    )
        errors.extend(self.more_config_errors(node, config))
        return errors

    def more_config_errors(self, node: Node, config: Mapping[str, Any]) -> list[str]:
        return []

    def config(self, ctx: NodeContext) -> dict[str, Any]:
        """The node's config with every key's default filled in."""
        given = ctx.data.get(CONFIG) or {}
        found = {key.name: key.default for key in self.keys}
        found.update({k: v for k, v in given.items() if v is not None})
        return dict(ctx.with_secrets(found))  # secrets by name, read now: {"type": "secret", "content": NAME}


def inputs_of(ctx: NodeContext) -> dict[str, Any]:
    """The node's inputs: from its connections, or the run's inputs for a node without any."""
    if ctx.data.get(ROOT):
        return dict(ctx.run_inputs)
    return dict(ctx.inputs)


def _secret_string(value: Any, types: Sequence[str]) -> bool:
    """A secret by name where a string belongs: ``{"type": "secret", "content": NAME}``."""
    return "string" in types and isinstance(value, Mapping) and value.get("type") == "secret"


def _is(value: Any, json_kind: str) -> bool:
    if isinstance(value, bool):
        return json_kind == "boolean"
    if json_kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, _JSON_TYPES[json_kind])


def json_type(value: Any) -> str:
    """The JSON type of ``value``, as flowloom's errors name it (deviation F18)."""
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
    """Inputs as environment variables (F10): upper-cased port names that are valid names; null is not set."""
    env: dict[str, str] = {}
    for port, value in inputs.items():
        name = port.upper()
        if port in skip or value is None or not _ENV_NAME.fullmatch(name):
            continue
        env[name] = text_of(value)
    return env


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


def parse_json_or_text(text: str) -> Any:
    """The whole text parsed as JSON if it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
