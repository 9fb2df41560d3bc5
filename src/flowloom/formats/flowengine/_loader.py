"""A flowengine workflow document checked and compiled to an ``ir.Workflow``. Loading is lenient (deviation
F15): only ``nodes`` is required, ids are free text, unknown keys are ignored. A connection
``from_node.from_port -> to_node.to_port`` compiles to an edge plus a ``ref`` input; a node without
incoming connections gets the run's inputs (its executor reads them)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from flowloom.ir import (
    CachePolicy,
    Edge,
    FlowValue,
    JsonSchema,
    Node,
    OnError,
    RetryPolicy,
    Workflow,
    WorkflowSettings,
)

from .._triggers import read_triggers
from ._values import plain

ROOT_KEY = "root"  # node.data: the node has no incoming connection, its inputs are the run's
CONFIG_KEY = "config"
POSITION_KEY = "position"
DEFAULT_MAX_PARALLEL = 10
_NO_CAP_S = 10.0**9  # max_delay_ms: null (no cap)


class _Problems(list[str]):
    def add(self, message: str) -> None:
        self.append(message)


def load_flowengine(document: Any) -> tuple[Workflow, list[str]]:
    """The workflow (``RetryWorkflow`` as ``settings.run_attempts``) and every problem found."""
    problems = _Problems()
    if not isinstance(document, Mapping):
        return Workflow(nodes=[]), [f"a flowengine workflow is a JSON object, got {_json_type(document)}"]
    raw_nodes = document.get("nodes")
    if not isinstance(raw_nodes, list):
        problems.add(f'"nodes" must be an array of nodes, got {_json_type(raw_nodes)}')
        raw_nodes = []
    settings, deadline_s = _settings(document.get("settings"), problems)
    nodes = [_node(i, raw, deadline_s, problems) for i, raw in enumerate(raw_nodes)]
    built = [node for node in nodes if node is not None]
    edges, refs = _connections(document.get("connections"), problems)
    targets = {edge.target for edge in edges}
    out_ports: dict[str, set[str]] = {}
    for edge in edges:
        out_ports.setdefault(edge.source, set()).add(edge.source_port)
    final = [
        node.model_copy(
            update={
                "inputs_values": refs.get(node.id, {}),
                "inputs": _ports(refs.get(node.id, {})),
                "outputs": _ports(out_ports.get(node.id, ())),
                "data": {**node.data, ROOT_KEY: node.id not in targets},
            }
        )
        for node in built
    ]
    triggers, trigger_problems = read_triggers(document)
    problems.extend(trigger_problems)
    name = document.get("name")
    workflow = Workflow(
        nodes=final,
        edges=edges,
        settings=settings,
        name=name if isinstance(name, str) else None,
        triggers=triggers,
    )
    return workflow, list(problems)


def _ports(names: Iterable[str]) -> JsonSchema | None:
    """Ports declared without a type: the engine binds and keeps only declared ones."""
    ports = sorted(names)
    return JsonSchema(type="object", properties={port: JsonSchema() for port in ports}) if ports else None


def _node(index: int, raw: Any, deadline_s: float | None, problems: _Problems) -> Node | None:
    if not isinstance(raw, Mapping):
        problems.add(f"nodes[{index}]: a node is a JSON object, got {_json_type(raw)}")
        return None
    node_id, node_type = raw.get("id"), raw.get("node_type")
    where = f'node "{node_id}"' if isinstance(node_id, str) else f"nodes[{index}]"
    if not isinstance(node_id, str) or not node_id:
        problems.add(f'nodes[{index}]: "id" must be a non-empty string, got {_json_type(node_id)}')
    if not isinstance(node_type, str) or not node_type:
        problems.add(f'{where}: "node_type" must be a non-empty string, got {_json_type(node_type)}')
    config = raw.get("config")
    if config is None:
        config = {}
    elif not isinstance(config, Mapping):
        problems.add(f'{where}: "config" must be an object, got {_json_type(config)}')
        config = {}
    decoded = {key: value for key, value in plain(config).items() if value is not None}
    retry = _retry(raw.get("retry_policy"), where, problems)
    if not isinstance(node_id, str) or not isinstance(node_type, str):
        return None
    name = raw.get("name")
    data: dict[str, Any] = {CONFIG_KEY: decoded}
    if isinstance(raw.get("position"), Mapping):
        data[POSITION_KEY] = dict(raw["position"])
    return Node(
        id=node_id,
        type=node_type,
        title=name if isinstance(name, str) else None,
        data=data,
        retry=retry,
        deadline_s=deadline_s,
        cache=_cache(raw.get("cache"), where, problems),
    )


def _cache(raw: Any, where: str, problems: _Problems) -> CachePolicy | None:
    """flowpersist's result cache, per node: ``true`` (kept until pruned) or ``{"ttl_secs": N}``."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return CachePolicy()
    ttl = raw.get("ttl_secs") if isinstance(raw, Mapping) else None
    if (
        not isinstance(raw, Mapping)
        or set(raw) - {"ttl_secs"}
        or (ttl is not None and (not _is_number(ttl) or ttl <= 0))
    ):
        problems.add(
            f'{where}: "cache" must be true, false or {{"ttl_secs": <positive number>}}, got {raw!r}'
        )
        return None
    return CachePolicy(ttl_s=None if ttl is None else float(ttl))


def _retry(raw: Any, where: str, problems: _Problems) -> RetryPolicy | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add(f'{where}: "retry_policy" must be an object, got {_json_type(raw)}')
        return None
    values = {
        "max_attempts": raw.get("max_attempts", 3),
        "delay_ms": raw.get("delay_ms", 1000),
        "backoff_multiplier": raw.get("backoff_multiplier", 2.0),
        "max_delay_ms": raw.get("max_delay_ms", 60000),
        "retry_on_timeout": raw.get("retry_on_timeout", True),
    }
    attempts = values["max_attempts"]
    if not _is_int(attempts) or attempts < 1:
        problems.add(f"{where}: retry_policy.max_attempts must be an integer of at least 1, got {attempts!r}")
        return None
    for key in ("delay_ms", "backoff_multiplier"):
        if not _is_number(values[key]) or values[key] < 0:
            problems.add(f"{where}: retry_policy.{key} must be a number of at least 0, got {values[key]!r}")
            return None
    cap = values["max_delay_ms"]
    if cap is not None and (not _is_number(cap) or cap < 0):
        problems.add(
            f"{where}: retry_policy.max_delay_ms must be a number of at least 0 or null, got {cap!r}"
        )
        return None
    if not isinstance(values["retry_on_timeout"], bool):
        problems.add(f"{where}: retry_policy.retry_on_timeout must be a boolean")
        return None
    return RetryPolicy(
        max_attempts=attempts,
        delay_s=values["delay_ms"] / 1000,
        backoff=max(float(values["backoff_multiplier"]), 1.0),
        max_delay_s=_NO_CAP_S if cap is None else cap / 1000,
        retry_on_timeout=values["retry_on_timeout"],
    )


def _settings(raw: Any, problems: _Problems) -> tuple[WorkflowSettings, float | None]:
    """The run's settings (with how many times the whole run may be tried) and each node's deadline."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.add(f'"settings" must be an object, got {_json_type(raw)}')
        raw = {}
    parallel = raw.get("max_parallel_nodes")
    if parallel is None:
        parallel = DEFAULT_MAX_PARALLEL
    if not _is_int(parallel) or parallel < 1:
        problems.add(f"settings.max_parallel_nodes must be an integer of at least 1, got {parallel!r}")
        parallel = DEFAULT_MAX_PARALLEL
    deadline_ms = raw.get("max_execution_time_ms")
    if deadline_ms is not None and (not _is_number(deadline_ms) or deadline_ms <= 0):
        problems.add(f"settings.max_execution_time_ms must be a positive number, got {deadline_ms!r}")
        deadline_ms = None
    on_error, attempts = _on_error(raw.get("on_error", "StopWorkflow"), problems)
    settings = WorkflowSettings(on_error=on_error, max_parallel=parallel, run_attempts=attempts)
    return settings, None if deadline_ms is None else deadline_ms / 1000


def _on_error(raw: Any, problems: _Problems) -> tuple[OnError, int]:
    if raw is None or raw == "StopWorkflow":
        return OnError.STOP, 1
    if raw == "ContinueOnError":
        return OnError.PROCEED, 1
    if raw == "RetryWorkflow":  # what flowengine's Python SDK writes (deviation F3)
        return OnError.STOP, 3
    if isinstance(raw, Mapping) and set(raw) == {"RetryWorkflow"}:
        inner = raw["RetryWorkflow"]
        attempts = inner.get("max_attempts", 3) if isinstance(inner, Mapping) else None
        if isinstance(attempts, int | float) and _is_int(attempts) and attempts >= 1:
            return OnError.STOP, int(attempts)
        problems.add(
            f"settings.on_error.RetryWorkflow.max_attempts must be an integer of at least 1, got {attempts!r}"
        )
        return OnError.STOP, 1
    problems.add(
        'settings.on_error must be "StopWorkflow", "ContinueOnError" or '
        f'{{"RetryWorkflow": {{"max_attempts": N}}}}, got {raw!r}'
    )
    return OnError.STOP, 1


def _connections(raw: Any, problems: _Problems) -> tuple[list[Edge], dict[str, dict[str, Any]]]:
    if raw is None:
        return [], {}
    if not isinstance(raw, list):
        problems.add(f'"connections" must be an array, got {_json_type(raw)}')
        return [], {}
    edges: list[Edge] = []
    refs: dict[str, dict[str, Any]] = {}
    for i, conn in enumerate(raw):
        fields = ("from_node", "from_port", "to_node", "to_port")
        if not isinstance(conn, Mapping) or not all(isinstance(conn.get(f), str) for f in fields):
            problems.add(f"connections[{i}]: needs string {', '.join(fields)}")
            continue
        source, target = conn["from_node"], conn["to_node"]
        edges.append(
            Edge(source=source, target=target, source_port=conn["from_port"], target_port=conn["to_port"])
        )
        ports = refs.setdefault(target, {})
        ports.pop(conn["to_port"], None)  # the later connection into a port wins
        ports[conn["to_port"]] = FlowValue(type="ref", content=[source, conn["from_port"]]).model_dump()
    return edges, refs


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
