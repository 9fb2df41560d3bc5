"""What resuming a run needs: the workflow as stored, and which recorded executions can be restored."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from flowloom.ir import InvalidWorkflowError, NodeRow, Status, Workflow, wire_json

from ._plan import CompiledNode, CompiledWorkflow, Plan


def workflow_document(workflow: Workflow) -> tuple[str, dict[str, Any]]:
    """The workflow as stored with its runs (its IR as JSON), and its content hash."""
    document = wire_json(workflow)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest(), document


def workflow_from_document(document: Any, workflow_hash: str) -> Workflow:
    try:
        return Workflow.model_validate(document)
    except ValueError as exc:
        raise InvalidWorkflowError([f"stored workflow {workflow_hash[:12]} cannot be read: {exc}"]) from exc


def restorable_rows(
    rows: Iterable[NodeRow], rerun: Collection[str] = ()
) -> dict[tuple[str, tuple[int, ...]], NodeRow]:
    """Succeeded executions, by (node id, scope), except those of nodes in ``rerun``."""
    return {
        (row.node_id, row.scope): row
        for row in rows
        if row.status is Status.SUCCEEDED and row.node_id not in rerun
    }


def downstream_of(compiled: CompiledWorkflow, node_ids: Sequence[str]) -> set[str]:
    """``node_ids`` and every node that depends on them: their successors, the whole body of a loop that
    runs again, and the loops around them (whose outputs change) with what follows those."""
    where: dict[str, tuple[Plan, CompiledNode, CompiledNode | None]] = {}
    plans: list[tuple[Plan, CompiledNode | None]] = [(compiled.root, None)]
    while plans:
        plan, container = plans.pop()
        for cnode in plan.nodes:
            where[cnode.id] = (plan, cnode, container)
            if cnode.block is not None:
                plans.append((cnode.block, cnode))
    unknown = [node_id for node_id in node_ids if node_id not in where]
    if unknown:
        raise InvalidWorkflowError([_unknown_node(node_id, where) for node_id in unknown])
    rerun: set[str] = set()
    whole: set[str] = set()  # containers whose whole body runs again
    work = [(node_id, True) for node_id in node_ids]
    while work:
        node_id, whole_body = work.pop()
        if node_id in rerun and (not whole_body or node_id in whole):
            continue
        rerun.add(node_id)
        plan, cnode, container = where[node_id]
        work.extend((plan.nodes[target].id, True) for _port, target in cnode.out_edges)
        if whole_body and cnode.block is not None:
            whole.add(node_id)
            work.extend((inner.id, True) for inner in cnode.block.nodes)
        if container is not None:
            work.append((container.id, False))
    return rerun


def _unknown_node(node_id: str, where: dict[str, Any]) -> str:
    close = difflib.get_close_matches(node_id, list(where), n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f'no node "{node_id}" in the workflow{hint}'
