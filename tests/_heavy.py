"""flowloom-JSON workflows of the heavy automation nodes (config under ``data.config``, inputs declared and
given as constants or refs), and running them on an engine."""

from __future__ import annotations

from typing import Any

import flowloom

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def heavy_node(
    node_id: str, node_type: str, config: dict[str, Any], *, declare: tuple[str, ...] = (), **inputs: Any
) -> dict[str, Any]:
    """A node of ``node_type``; each keyword is an input: a constant, or ``("ref", node, port)``.
    ``declare`` names the output ports later nodes refer to (only declared outputs are variables)."""
    values: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, tuple) and value[0] == "ref":
            values[name] = {"type": "ref", "content": list(value[1:])}
            props[name] = {"type": "string"}
        else:
            values[name] = {"type": "constant", "content": value}
            props[name] = {"type": _JSON_TYPES.get(type(value), "string")}
    return {
        "id": node_id,
        "type": node_type,
        "data": {"config": config},
        "inputs": {"type": "object", "properties": props},
        "inputs_values": values,
        "outputs": {"type": "object", "properties": {port: {} for port in declare}},
    }


def workflow(
    *nodes: dict[str, Any], edges: list[tuple[str, str]] = (), on_error: str = "continue"
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "format": "flowloom",
        "nodes": list(nodes),
        "edges": [{"source": a, "target": b} for a, b in edges],
        "settings": {"on_error": on_error},
    }


async def run_nodes(engine: flowloom.Engine, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run ``document``; each node's last snapshot: ``{"status", "outputs", "error"}``."""
    run = await engine.run(document)
    found: dict[str, dict[str, Any]] = {}
    for node_id, report in run.report().to_json()["reports"].items():
        snapshot = report["snapshots"][-1] if report["snapshots"] else {}
        found[node_id] = {
            "status": report["status"],
            "outputs": snapshot.get("outputs"),
            "error": snapshot.get("error"),
        }
    return found


def refusal(engine: flowloom.Engine, node: dict[str, Any]) -> list[str]:
    """What checking a workflow of ``node`` alone says before anything runs (its config errors)."""
    return engine.validate(workflow(node)).errors or []
