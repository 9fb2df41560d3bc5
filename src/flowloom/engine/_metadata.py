"""What a node type tells the people who use it: its category, description, config keys and ports. The CLI
(``flowloom nodes``), the server (``GET /api/v1/nodes``) and the UI read it; the engine does not."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from flowloom.ir import DEFAULT_INPUT_PORT, DEFAULT_OUTPUT_PORT

from ._protocols import NodeExecutor


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigKey:
    """One key of a node's configuration. ``type`` is a JSON type (``string``, ``integer``, ``number``,
    ``boolean``, ``object``, ``array``) or ``any``; a key that is not ``required`` has ``default``."""

    name: str
    type: str = "any"
    description: str = ""
    required: bool = False
    default: Any = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "type": self.type, "description": self.description}
        found["required"] = self.required
        if not self.required:
            found["default"] = self.default
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeMetadata:
    """A node type as people see it. ``inputs``/``outputs`` name its ports."""

    category: str = "custom"
    description: str = ""
    config: tuple[ConfigKey, ...] = ()
    inputs: tuple[str, ...] = (DEFAULT_INPUT_PORT,)
    outputs: tuple[str, ...] = (DEFAULT_OUTPUT_PORT,)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "description": self.description,
            "config": [key.to_json() for key in self.config],
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
        }


@runtime_checkable
class DeclaresMetadata(Protocol):
    """An executor that declares its metadata: ``metadata: ClassVar[NodeMetadata] = NodeMetadata(...)``."""

    metadata: ClassVar[NodeMetadata]


def metadata_of(executor: NodeExecutor) -> NodeMetadata:
    """What ``executor`` declares, else what can be said without it: its docstring's first paragraph."""
    if isinstance(executor, DeclaresMetadata) and isinstance(executor.metadata, NodeMetadata):
        return executor.metadata
    doc = inspect.getdoc(type(executor)) or ""
    return NodeMetadata(description=doc.split("\n\n", 1)[0].replace("\n", " "))
