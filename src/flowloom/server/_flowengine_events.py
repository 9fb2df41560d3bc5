"""flowengine's event names on the server's streams: a run's ledger rows said as ``flowloom run --jsonl``
says them for a flowengine workflow (``formats.flowengine.EventLines``). A ledger's ``NodeSucceeded`` does
not carry the node's outputs and a ``NodeRetrying`` not its ``max_attempts``: they are read from the run
handle when this server executes the run, else from the store (node records, the run's workflow)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from flowloom.engine import Engine
from flowloom.formats.flowengine import EventLines, max_attempts_of
from flowloom.ir import EventRow, NodeRow, Status, Workflow

from ._registry import RunRegistry
from ._streams import RowMessage

DIALECTS = ("flowloom", "flowengine")
_REMEMBERED_RUNS = 1000


class FlowengineDialect:
    """The ``flowengine`` dialect of the event streams (``dialect(run_id)`` gives a run's ``RowMessage``).
    It also remembers the workflows of the runs the flowengine API started (``remember``): a store-less
    engine keeps no workflow to read ``max_attempts`` from."""

    def __init__(self, registry: RunRegistry, engine: Engine) -> None:
        self.registry = registry
        self.engine = engine
        self._workflows: OrderedDict[str, Workflow] = OrderedDict()

    def remember(self, run_id: str, workflow: Workflow) -> None:
        self._workflows[run_id] = workflow
        while len(self._workflows) > _REMEMBERED_RUNS:
            self._workflows.popitem(last=False)

    def __call__(self, run_id: str) -> RowMessage:
        return _RunRows(self, run_id).message

    async def workflow_of(self, run_id: str) -> Workflow | None:
        known = self._workflows.get(run_id)
        store = self.engine.store
        if known is not None or store is None:
            return known
        row = await store.get_run(run_id)
        document = await store.get_workflow(row.workflow_hash) if row is not None else None
        return Workflow.model_validate(document) if document is not None else None


class _RunRows:
    """One run's rows, in order, for one stream."""

    def __init__(self, dialect: FlowengineDialect, run_id: str) -> None:
        self.dialect = dialect
        self.run_id = run_id
        self.lines = EventLines({})
        self._max_attempts_read = False
        self._stored: dict[tuple[str, tuple[int, ...]], NodeRow] = {}

    async def message(self, row: EventRow) -> dict[str, Any] | None:
        data = row.data if isinstance(row.data, Mapping) else {}
        if row.type == "NodeSucceeded":
            data = {**data, "outputs": await self._outputs(str(data.get("node_id")), data.get("scope"))}
        elif row.type == "NodeRetrying" and not self._max_attempts_read:
            self._max_attempts_read = True
            workflow = await self.dialect.workflow_of(self.run_id)
            self.lines.max_attempts = max_attempts_of(workflow) if workflow is not None else {}
        return self.lines.line(row.type, data)

    async def _outputs(self, node_id: str, scope: Any) -> Any:
        entry = self.dialect.registry.get(self.run_id)
        if entry is not None:  # executed here: its handle knows
            status, _attempts, outputs, _error = entry.run.node_state(node_id)
            if status is Status.SUCCEEDED:
                return outputs or {}
        store = self.dialect.engine.store
        key = (node_id, tuple(scope or ()))
        found = self._stored.get(key)
        if store is not None and (found is None or found.status is not Status.SUCCEEDED):
            # read again: a node's record is written before (or with) its event, not after
            self._stored = {(n.node_id, tuple(n.scope)): n for n in await store.get_nodes(self.run_id)}
            found = self._stored.get(key)
        return found.outputs if found is not None and found.outputs is not None else {}
