"""The lowering passes, in AbstractRuntime's order: reroutes removed, the entry and what it reaches found,
the graph's rules checked (exec fan-out, unknown handles, unknown types, two wires into a pin), loop-backs out
of loop bodies refused, multi-entry route metadata checked. Each problem is a message naming the node."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._parse import VEdge, VFlow, VNode
from ._types import CONTROL_BODIES, EXEC_IN, EXEC_OUT, KNOWN, LISTENERS, SEQUENCES


class LoweringError(Exception):
    """The flow does not compile; ``str`` says why, naming the node."""


def remove_reroutes(flow: VFlow) -> None:
    """Rewire every data edge that leaves a reroute to the reroute chain's first real source."""
    reroutes = {nid for nid, node in flow.nodes.items() if node.type == "reroute"}
    if not reroutes:
        return
    feeding: dict[str, VEdge] = {}
    for edge in flow.edges:
        if edge.source in reroutes or edge.target in reroutes:
            if edge.is_exec or edge.source_handle == EXEC_OUT:
                reroute = edge.source if edge.source in reroutes else edge.target
                raise LoweringError(
                    f"execution wires through a reroute are not supported (reroute '{reroute}')"
                )
        if edge.target in reroutes:
            feeding[edge.target] = edge
    kept: list[VEdge] = []
    for edge in flow.edges:
        if edge.target in reroutes:
            continue
        if edge.source not in reroutes:
            kept.append(edge)
            continue
        seen = {edge.source}
        source: VEdge | None = feeding.get(edge.source)
        while source is not None and source.source in reroutes:
            if source.source in seen:
                raise LoweringError(f"Reroutes form a cycle through '{source.source}'")
            seen.add(source.source)
            source = feeding.get(source.source)
        if source is not None:
            kept.append(
                VEdge(source.source, source.source_handle, edge.target, edge.target_handle, edge.data)
            )
    flow.edges = kept
    for nid in reroutes:
        del flow.nodes[nid]


def lower_loop_limits(flow: VFlow) -> None:
    """An exec edge with ``data.loopLimit: {max: N}`` gets a loop_limit node on it: ``again`` goes on along
    the wire; ``limit_reached`` takes an if's other branch (else the path ends there)."""
    edges: list[VEdge] = []
    for edge in flow.edges:
        limit = edge.data.get("loopLimit") if edge.is_exec else None
        if not isinstance(limit, dict) or "max" not in limit:
            edges.append(edge)
            continue
        limiter = f"__limit_{edge.source}_{edge.source_handle}"
        flow.nodes[limiter] = VNode(
            limiter,
            "loop_limit",
            {"label": f"Loop Limit ({edge.source})", "pinDefaults": {"max": limit["max"]}},
            None,
            None,
        )
        edges.append(VEdge(edge.source, edge.source_handle, limiter, EXEC_IN))
        edges.append(VEdge(limiter, "again", edge.target, EXEC_IN))
        source = flow.nodes[edge.source]
        if source.type == "if" and edge.source_handle in ("true", "false"):
            other = "false" if edge.source_handle == "true" else "true"
            exit_to = next(
                (
                    e.target
                    for e in flow.edges
                    if e.is_exec and e.source == edge.source and e.source_handle == other
                ),
                None,
            )
            if exit_to is not None:
                edges.append(VEdge(limiter, "limit_reached", exit_to, EXEC_IN))
    flow.edges = edges


def find_entry(flow: VFlow) -> str:
    execs = [nid for nid, node in flow.nodes.items() if node.is_exec]
    if not execs:
        raise LoweringError(f"VisualFlow '{flow.id}' has no execution node to start from")
    if flow.entry_node in execs:
        return flow.entry_node
    entered = {edge.target for edge in flow.edges if edge.is_exec}
    return next((nid for nid in execs if nid not in entered), execs[0])


def reachable(flow: VFlow, entry: str) -> list[str]:
    """Exec nodes reachable from ``entry`` along exec edges, in document order."""
    succ: dict[str, list[str]] = {}
    for edge in flow.edges:
        if edge.is_exec:
            succ.setdefault(edge.source, []).append(edge.target)
    seen = {entry}
    todo = deque([entry])
    while todo:
        for nxt in succ.get(todo.popleft(), ()):
            if nxt not in seen and flow.nodes[nxt].is_exec:
                seen.add(nxt)
                todo.append(nxt)
    return [nid for nid in flow.nodes if nid in seen]


def exec_ports(node: VNode) -> list[str]:
    """The execution outputs a node may take."""
    ports = node.pin_ids(outputs=True, execution=True)
    defaults: list[str] = {
        "if": ["true", "false"],
        "loop": ["loop", "done"],
        "for": ["loop", "done"],
        "while": ["loop", "done"],
        "loop_limit": ["again", "limit_reached"],
        "on_flow_end": [],
        "sequence": [],
        "parallel": ["completed"],
    }.get(node.type, [EXEC_OUT] if node.type != "switch" else ["default"])
    if node.type == "switch":
        cases = (node.data.get("switchConfig") or {}).get("cases") or []
        defaults = defaults + [f"case:{c['id']}" for c in cases if isinstance(c, dict) and "id" in c]
    for port in defaults:
        if port not in ports:
            ports.append(port)
    return ports


def body_ports(node: VNode) -> list[str]:
    if node.type in SEQUENCES:
        ports = [p for p in exec_ports(node) if p.startswith("then:")]
        return sorted(ports, key=lambda p: int(p[5:]) if p[5:].isdigit() else 1 << 30)
    if node.type in LISTENERS:
        return [EXEC_OUT]
    return list(CONTROL_BODIES.get(node.type, ()))


def check_graph(flow: VFlow, compiled: list[str]) -> None:
    """Refuse what AbstractRuntime refuses when it compiles."""
    inside = set(compiled)
    outgoing: set[tuple[str, str]] = set()
    for edge in flow.edges:
        if edge.is_exec and edge.source in inside:
            key = (edge.source, edge.source_handle)
            if key in outgoing:
                raise LoweringError(
                    f"Execution output '{edge.source_handle}' of node '{edge.source}' has multiple outgoing "
                    "edges (fan-out needs a sequence or parallel node)"
                )
            outgoing.add(key)
            source = flow.nodes[edge.source]
            if edge.source_handle not in exec_ports(source):
                raise LoweringError(
                    f"Node '{edge.source}' ({source.type}) has an exec edge from unsupported branching "
                    f"output '{edge.source_handle}'"
                )
    connected = {e.source for e in flow.edges} | {e.target for e in flow.edges} | inside
    for nid, node in flow.nodes.items():
        if nid in connected and node.type not in KNOWN:
            raise LoweringError(f"Node '{nid}': unknown VisualFlow node type '{node.type}'")
    wired: set[tuple[str, str]] = set()
    for edge in flow.edges:
        if edge.is_data:
            key = (edge.target, edge.target_handle)
            if key in wired:
                raise LoweringError(
                    f"Multiple data edges target the same input pin '{edge.target_handle}' of node "
                    f"'{edge.target}'"
                )
            wired.add(key)


@dataclass(slots=True)
class Regions:
    """Control bodies: the nodes a body port reaches before returning to its owner."""

    members: dict[str, set[str]] = field(default_factory=dict)  # owner -> body nodes

    def owner_of(self, nid: str) -> str | None:
        """The innermost control whose body holds ``nid``."""
        best: str | None = None
        for owner, body in self.members.items():
            if nid in body and (best is None or len(body) < len(self.members[best])):
                best = owner
        return best


def find_regions(flow: VFlow, compiled: list[str]) -> Regions:
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[tuple[str, VEdge]]] = {}
    by_port: dict[tuple[str, str], str] = {}
    for edge in flow.edges:
        if edge.is_exec:
            succ.setdefault(edge.source, []).append(edge.target)
            pred.setdefault(edge.target, []).append((edge.source, edge))
            by_port[(edge.source, edge.source_handle)] = edge.target
    regions = Regions()
    for owner in compiled:
        node = flow.nodes[owner]
        ports = body_ports(node)
        if not ports:
            continue
        body: set[str] = set()
        todo = deque(t for p in ports if (t := by_port.get((owner, p))) is not None and t != owner)
        body.update(todo)
        while todo:
            for nxt in succ.get(todo.popleft(), ()):
                if nxt != owner and nxt not in body:
                    body.add(nxt)
                    todo.append(nxt)
        if node.type in CONTROL_BODIES:
            _refuse_loop_back(flow, node, body, pred)
        regions.members[owner] = body
    return regions


def _refuse_loop_back(
    flow: VFlow, loop: VNode, body: set[str], pred: dict[str, list[tuple[str, VEdge]]]
) -> None:
    """An exec wire from the body back to the loop, or to a node before it, would never end."""
    before = {loop.id}
    todo = deque([loop.id])
    while todo:
        for source, _edge in pred.get(todo.popleft(), ()):
            if source not in body and source not in before:
                before.add(source)
                todo.append(source)
    for target in before:
        for source, edge in pred.get(target, ()):
            if source in body:
                src, dst = flow.nodes[source], flow.nodes[target]
                raise LoweringError(
                    f"Wire {src.label}.{edge.source_handle} -> {dst.label} goes back out of {loop.label}'s "
                    "loop body: the run would never end."
                )


def entry_routes(flow: VFlow, node: VNode, incoming: list[VEdge]) -> dict[str, Any] | None:
    """Multi-entry metadata checked against the incoming exec edges: ``{"routes": {src\\0handle: key},
    "overrides": {pin: {key: [src, handle]}}}``, or None for a node with one way in."""
    if len(incoming) < 2:
        return None
    raw = node.data.get("entryRoutes")
    if isinstance(raw, list) and raw:
        routes = [
            (
                str(r.get("key") or f"{r.get('sourceNodeId')}::{r.get('sourceHandle')}"),
                str(r.get("sourceNodeId")),
                str(r.get("sourceHandle")),
            )
            for r in raw
            if isinstance(r, dict)
        ]
    else:
        routes = [(f"{e.source}::{e.source_handle}", e.source, e.source_handle) for e in incoming]
    keys = [key for key, _s, _h in routes]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise LoweringError(f"Node '{node.id}' has duplicate entryRoutes keys: {dups}")
    if sorted((s, h) for _k, s, h in routes) != sorted((e.source, e.source_handle) for e in incoming):
        raise LoweringError(f"Node '{node.id}': entryRoutes mismatch with incoming exec edges")
    overrides: dict[str, dict[str, list[str]]] = {}
    raw_over = node.data.get("inputRouteOverrides")
    for pin, by_route in raw_over.items() if isinstance(raw_over, dict) else ():
        for key, source in by_route.items() if isinstance(by_route, dict) else ():
            if key not in keys:
                raise LoweringError(
                    f"Node '{node.id}': inputRouteOverrides.{pin} references unknown route '{key}'"
                )
            src = source.get("sourceNodeId") if isinstance(source, dict) else None
            if src not in flow.nodes:
                raise LoweringError(
                    f"Node '{node.id}': inputRouteOverrides.{pin} references missing node '{src}'"
                )
            overrides.setdefault(pin, {})[key] = [str(src), str(source.get("sourceHandle"))]
    return {"routes": {f"{s}\x00{h}": k for k, s, h in routes}, "overrides": overrides}
