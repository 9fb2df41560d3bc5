"""A workflow (flowloom JSON) as the run page draws it: every node, loop bodies too, with the edges between
them; a container points at the first nodes of its body."""

from __future__ import annotations

from typing import Any


def graph_of(document: Any) -> dict[str, list[dict[str, Any]]]:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    pending: list[tuple[Any, str | None]] = [(document, None)]
    while pending:  # iterative: bodies nest
        holder, parent = pending.pop()
        members = holder.get("nodes") or holder.get("blocks") or []
        links = holder.get("edges") if parent is None else holder.get("block_edges")
        targets = set()
        for link in links or []:
            edges.append(
                {"source": link["source"], "target": link["target"], "port": link.get("source_port")}
            )
            targets.add(link["target"])
        for node in members:
            nodes.append(
                {
                    "id": node["id"],
                    "type": node.get("type", ""),
                    "title": node.get("title") or node["id"],
                    "parent": parent,
                }
            )
            if parent is not None and node["id"] not in targets:
                edges.append({"source": parent, "target": node["id"], "port": "body"})
            if node.get("blocks"):
                pending.append((node, node["id"]))
    return {"nodes": nodes, "edges": edges}
