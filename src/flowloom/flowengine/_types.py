"""flowengine's workflow document as Python values: ``WorkflowSpec`` (nodes, connections, settings),
``NodeSpec``, ``Connection`` and ``RetryPolicy``, each written by ``to_dict`` as the flowengine JSON that
``flowloom run`` reads (config values in the tagged form)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from flowloom.formats.flowengine import tagged

ON_ERROR_CHOICES = ("StopWorkflow", "ContinueOnError", "RetryWorkflow")


class FlowDefinitionError(ValueError):
    """A flow, task or connection that cannot be built: the message names the task, port or value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often a node is tried (``max_attempts`` in total) and how long it waits between attempts:
    ``delay_ms * backoff_multiplier**(k-1)``, at most ``max_delay_ms`` (``None``: no cap)."""

    max_attempts: int = 3
    delay_ms: int = 1000
    backoff_multiplier: float = 2.0
    max_delay_ms: int | None = 60000
    retry_on_timeout: bool = True

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise FlowDefinitionError(
                f"RetryPolicy.max_attempts must be an integer >= 1, not {self.max_attempts!r}"
            )
        if isinstance(self.delay_ms, bool) or not isinstance(self.delay_ms, int | float) or self.delay_ms < 0:
            raise FlowDefinitionError(f"RetryPolicy.delay_ms must be a number >= 0, not {self.delay_ms!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "delay_ms": self.delay_ms,
            "backoff_multiplier": self.backoff_multiplier,
            "max_delay_ms": self.max_delay_ms,
            "retry_on_timeout": self.retry_on_timeout,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """One node: its ``id``, ``node_type``, display ``name``, ``config`` (plain JSON) and retry policy."""

    id: str
    node_type: str
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    retry_policy: RetryPolicy | None = None

    def to_dict(self) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": self.id,
            "node_type": self.node_type,
            "name": self.name,
            "config": {key: tagged(value) for key, value in self.config.items()},
        }
        if self.retry_policy is not None:
            node["retry_policy"] = self.retry_policy.to_dict()
        return node


@dataclass(frozen=True, slots=True)
class Connection:
    """``from_node.from_port`` feeds ``to_node.to_port``."""

    from_node: str
    from_port: str
    to_node: str
    to_port: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_node": self.from_node,
            "from_port": self.from_port,
            "to_node": self.to_node,
            "to_port": self.to_port,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSpec:
    """A whole flowengine workflow."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = ""
    description: str | None = None
    nodes: tuple[NodeSpec, ...] = ()
    connections: tuple[Connection, ...] = ()
    max_parallel_nodes: int = 10
    on_error: str | dict[str, Any] = "StopWorkflow"
    max_execution_time_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "nodes": [node.to_dict() for node in self.nodes],
            "connections": [connection.to_dict() for connection in self.connections],
            "triggers": [],
            "settings": {
                "max_execution_time_ms": self.max_execution_time_ms,
                "max_parallel_nodes": self.max_parallel_nodes,
                "on_error": self.on_error,
            },
        }


def check_settings(max_parallel_nodes: Any, on_error: Any, max_execution_time_ms: Any) -> None:
    """Refuse settings ``flowloom run`` would refuse, when the flow is made rather than when it runs."""
    if (
        isinstance(max_parallel_nodes, bool)
        or not isinstance(max_parallel_nodes, int)
        or max_parallel_nodes < 1
    ):
        raise FlowDefinitionError(f"max_parallel_nodes must be an integer >= 1, not {max_parallel_nodes!r}")
    name = next(iter(on_error), None) if isinstance(on_error, dict) and len(on_error) == 1 else on_error
    if name not in ON_ERROR_CHOICES:
        raise FlowDefinitionError(
            f"on_error must be one of {', '.join(ON_ERROR_CHOICES)} "
            f'(or {{"RetryWorkflow": {{"max_attempts": N}}}}), not {on_error!r}'
        )
    if max_execution_time_ms is not None and (
        isinstance(max_execution_time_ms, bool)
        or not isinstance(max_execution_time_ms, int | float)
        or max_execution_time_ms <= 0
    ):
        raise FlowDefinitionError(
            f"max_execution_time_ms must be a positive number of milliseconds, not {max_execution_time_ms!r}"
        )
