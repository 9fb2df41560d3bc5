"""A lowered VisualFlow compiled to the IR: exec nodes become re-entrant nodes (activation ``any``) joined by
their exec edges; a path that ends inside a control body gets an edge back to the control (a sequence, a loop,
a listener), one that ends elsewhere an edge to the synthetic finish; pure nodes become pulled nodes, computed
when a consumer resolves its inputs. What an executor needs of the flow travels in each node's ``data``."""

from __future__ import annotations

from collections import deque
from typing import Any

from flowloom.ir import Activation, Edge, Node, Workflow

from ._code_check import check_code
from ._lower import (
    Regions,
    body_ports,
    check_graph,
    entry_routes,
    exec_ports,
    find_entry,
    find_regions,
    lower_loop_limits,
    reachable,
    remove_reroutes,
)
from ._parse import VEdge, VFlow
from ._types import (
    AFTER_PORT,
    BEGIN,
    BEGIN_ID,
    CONTROL_BODIES,
    EXEC_IN,
    FINISH,
    FINISH_ID,
    IR_PREFIX,
    SEQUENCES,
)

RETURN_PORT = "return"
MAX_ACTIVATIONS = 10_000
"""How often one node of a flow may run in a run: a loop past this fails instead of running on."""


def compile_flow(flow: VFlow) -> Workflow:
    check_code(flow)
    remove_reroutes(flow)
    lower_loop_limits(flow)
    entry = find_entry(flow)
    compiled = reachable(flow, entry)
    inside = set(compiled)
    wires: dict[str, dict[str, list[str]]] = {}
    incoming: dict[str, list[VEdge]] = {}
    for edge in flow.edges:
        if edge.is_data:
            wires.setdefault(edge.target, {})[edge.target_handle] = [edge.source, edge.source_handle]
        elif edge.is_exec and edge.source in inside:
            incoming.setdefault(edge.target, []).append(edge)
    routed = {nid: entry_routes(flow, flow.nodes[nid], incoming.get(nid, [])) for nid in compiled}
    check_graph(flow, compiled)
    regions = find_regions(flow, compiled)
    nodes = [Node(id=BEGIN_ID, type=BEGIN, data={"entry": entry})]
    edges = [Edge(source=BEGIN_ID, target=entry, target_port=EXEC_IN)]
    pulled: set[str] = set()
    for nid in compiled:
        node = flow.nodes[nid]
        data: dict[str, Any] = {
            "label": node.label,
            "config": {k: v for k, v in node.data.items() if k not in ("inputs", "outputs")},
            "inputs": node.pin_ids(outputs=False, execution=False) if node.pinned else None,
            "outputs": node.pin_ids(outputs=True, execution=False) if node.pinned else None,
            "input_types": {str(p["id"]): p.get("type") for p in node.inputs or () if "id" in p},
            "wires": wires.get(nid, {}),
            "ports": body_ports(node),
        }
        routes = routed[nid]
        if routes is not None:
            data.update(routes)
        if node.type in CONTROL_BODIES:
            data["body"] = sorted(regions.members.get(nid, ()))
        if flow.functions:
            data["functions"] = flow.functions
        if node.type == "subflow" and flow.subflows:
            data["subflows"] = dict(flow.subflows)
        ir_type = IR_PREFIX + node.type
        nodes.append(
            Node(
                id=nid,
                type=ir_type,
                title=node.label,
                data=data,
                activation=Activation.ANY,
                max_activations=MAX_ACTIVATIONS,
            )
        )
        edges.extend(_exec_edges(flow, nid, regions))
        pulled.update(_sources(data))
    nodes.extend(_pure_nodes(flow, pulled, wires))
    nodes.append(Node(id=FINISH_ID, type=FINISH, activation=Activation.ANY))
    return Workflow(nodes=nodes, edges=edges, name=flow.id)


def _exec_edges(flow: VFlow, nid: str, regions: Regions) -> list[Edge]:
    node = flow.nodes[nid]
    wired = {e.source_handle: e.target for e in flow.edges if e.is_exec and e.source == nid}
    out = [
        Edge(source=nid, source_port=port, target=target, target_port=EXEC_IN)
        for port, target in wired.items()
    ]
    bodies = set(body_ports(node))
    ports = exec_ports(node) + ([AFTER_PORT] if node.type in SEQUENCES else [])
    owner = regions.owner_of(nid)
    for port in ports:
        if port in wired:
            continue
        if port in bodies:  # an empty body returns at once
            out.append(Edge(source=nid, source_port=port, target=nid, target_port=RETURN_PORT))
        elif owner is not None:
            out.append(Edge(source=nid, source_port=port, target=owner, target_port=RETURN_PORT))
        else:
            out.append(Edge(source=nid, source_port=port, target=FINISH_ID))
    return out


def _sources(data: dict[str, Any]) -> set[str]:
    found = {src for src, _handle in data["wires"].values()}
    for by_route in data.get("overrides", {}).values():
        found.update(src for src, _handle in by_route.values())
    return found


def _pure_nodes(flow: VFlow, roots: set[str], wires: dict[str, dict[str, list[str]]]) -> list[Node]:
    """The pure nodes the compiled exec nodes read, directly or through other pure nodes."""
    seen: set[str] = set()
    todo = deque(sorted(roots))
    while todo:
        nid = todo.popleft()
        node = flow.nodes.get(nid)
        if nid in seen or node is None or node.is_exec:
            continue
        seen.add(nid)
        todo.extend(src for src, _h in wires.get(nid, {}).values())
    return [
        Node(
            id=nid,
            type=IR_PREFIX + node.type,
            title=node.label,
            data={
                "label": node.label,
                "config": {k: v for k, v in node.data.items() if k not in ("inputs", "outputs")},
                "inputs": node.pin_ids(outputs=False, execution=False) if node.pinned else None,
                "outputs": node.pin_ids(outputs=True, execution=False) if node.pinned else None,
                "input_types": {str(p["id"]): p.get("type") for p in node.inputs or () if "id" in p},
                "wires": wires.get(nid, {}),
                **({"functions": flow.functions} if flow.functions else {}),
            },
            activation=Activation.PULL,
        )
        for nid, node in flow.nodes.items()
        if nid in seen
    ]
