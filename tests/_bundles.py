"""VisualFlow documents and ``.flow`` zips for the bundle tests, written the way the AbstractFlow editor
writes them (pins on every node)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

EXEC = {"id": "exec-out", "label": "", "type": "execution"}
EXEC_IN = {"id": "exec-in", "label": "", "type": "execution"}


def pin(pin_id: str, kind: str = "string") -> dict[str, str]:
    return {"id": pin_id, "label": pin_id, "type": kind}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "position": {"x": 0.0, "y": 0.0},
        "data": {"nodeType": node_type, "label": node_type, "inputs": inputs, "outputs": outputs, **data},
    }


def edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, str]:
    return {
        "id": f"{source}.{source_handle}->{target}.{target_handle}",
        "source": source,
        "sourceHandle": source_handle,
        "target": target,
        "targetHandle": target_handle,
    }


def says(flow_id: str, text: str, *, name: str | None = None) -> dict[str, Any]:
    """start -> end, whose output ``said`` is the literal ``text``."""
    return {
        "id": flow_id,
        "name": name or flow_id,
        "description": f"says {text}",
        "nodes": [
            node("start", "on_flow_start", [], [EXEC]),
            node("v", "literal_string", [], [pin("value")], literalValue=text),
            node("end", "on_flow_end", [EXEC_IN, pin("said")], []),
        ],
        "edges": [edge("start", "exec-out", "end", "exec-in"), edge("v", "value", "end", "said")],
    }


def asks(flow_id: str, prompt: str = "Your name?") -> dict[str, Any]:
    """start -> ask_user(prompt) -> end, whose output ``answer`` is the response."""
    return {
        "id": flow_id,
        "name": flow_id.replace("_", " ").capitalize(),
        "nodes": [
            node("start", "on_flow_start", [], [EXEC]),
            node(
                "ask",
                "ask_user",
                [EXEC_IN, pin("prompt"), pin("choices", "array")],
                [EXEC, pin("response")],
                pinDefaults={"prompt": prompt},
            ),
            node("end", "on_flow_end", [EXEC_IN, pin("answer")], []),
        ],
        "edges": [
            edge("start", "exec-out", "ask", "exec-in"),
            edge("ask", "exec-out", "end", "exec-in"),
            edge("ask", "response", "end", "answer"),
        ],
    }


def calls(flow_id: str, *children: str, unreached: str | None = None) -> dict[str, Any]:
    """start -> subflow(child) -> ... -> end; ``unreached``: one more subflow node that no exec edge
    reaches."""
    nodes = [node("start", "on_flow_start", [], [EXEC])]
    edges = []
    previous = "start"
    for index, child in enumerate(children):
        nodes.append(
            node(f"sf{index}", "subflow", [EXEC_IN], [EXEC, pin("output", "object")], subflowId=child)
        )
        edges.append(edge(previous, "exec-out", f"sf{index}", "exec-in"))
        previous = f"sf{index}"
    if unreached is not None:
        nodes.append(node("loose", "subflow", [EXEC_IN], [EXEC], subflowId=unreached))
    nodes.append(node("end", "on_flow_end", [EXEC_IN], []))
    edges.append(edge(previous, "exec-out", "end", "exec-in"))
    return {"id": flow_id, "name": flow_id, "nodes": nodes, "edges": edges}


def write_flows(folder: Path, *flows: dict[str, Any]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for flow in flows:
        path = folder / f"{flow['id']}.json"
        path.write_text(json.dumps(flow, indent=2))
        paths.append(path)
    return paths


def manifest(bundle_id: str = "demo", version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "bundle_format_version": "1",
        "bundle_id": bundle_id,
        "bundle_version": version,
        "created_at": "2026-01-01T00:00:00+00:00",
        "entrypoints": [{"flow_id": "main", "name": "Main", "description": "", "interfaces": []}],
        "default_entrypoint": "main",
        "flows": {"main": "flows/main.json"},
    }
    found.update(fields)
    return found


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip of ``members`` (bytes as they are, str as UTF-8, anything else as JSON), in the order given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
            elif isinstance(content, str):
                archive.writestr(name, content.encode())
            else:
                archive.writestr(name, json.dumps(content))
    return path


def bundle_zip(path: Path, bundle_id: str = "demo", version: str = "1.0.0", **fields: Any) -> Path:
    """A valid bundle whose one flow ``main`` says ``<id>@<version>``; ``fields`` change the manifest."""
    return write_zip(
        path,
        {
            "manifest.json": manifest(bundle_id, version, **fields),
            "flows/main.json": says("main", f"{bundle_id}@{version}"),
        },
    )
