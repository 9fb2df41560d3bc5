"""``Flow`` (``flow >> a >> b``) and ``FlowBuilder`` (``add`` and ``connect``): a graph of tasks placed as
nodes, written as a flowengine workflow (``to_dict``/``to_json``/``save``) and run in this process, or on a
server through a client (``run``/``execute``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

from ._document import Link, flow_document, python_calls
from ._run import execute_here, sink_result, sync
from ._task import Task
from ._types import FlowDefinitionError, check_settings


class ExecutingClient(Protocol):
    """What ``Flow(client=…)`` needs of a client (``FlowClient``): run a workflow document with inputs on
    the server and answer its result object."""

    def execute(self, workflow: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class NodeHandle:
    """A task placed in a ``FlowBuilder``, as ``add`` returns it: its node id and its task."""

    node_id: str
    task: Task


class Flow:
    """A workflow of tasks. ``flow >> a >> b`` adds ``a`` then ``b`` and connects ``a``'s result to ``b``'s
    first parameter. Tasks are not changed: the same task may be used again (its next node is named
    ``<name>-2``, ``-3``…) and in other flows.

    ``run(**inputs)`` returns the sink's result (a dict by task name with several sinks) and raises
    ``FlowRunError`` when the run fails; ``execute(**inputs)`` returns the full result object. Both run
    in this process, or on the server when ``client`` is given."""

    def __init__(
        self,
        name: str,
        description: str | None = None,
        *,
        client: ExecutingClient | None = None,
        max_parallel_nodes: int = 10,
        on_error: str | dict[str, Any] = "StopWorkflow",
        max_execution_time_ms: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise FlowDefinitionError(f"a flow needs a name (a non-empty string), not {name!r}")
        check_settings(max_parallel_nodes, on_error, max_execution_time_ms)
        self.id = str(uuid.uuid4())
        self.name = name
        self.description = description
        self.client = client
        self.max_parallel_nodes = max_parallel_nodes
        self.on_error = on_error
        self.max_execution_time_ms = max_execution_time_ms
        self._nodes: dict[str, Task] = {}
        self._links: list[Link] = []
        self._last: str | None = None

    # building -------------------------------------------------------------------------------------------

    def __rshift__(self, task: Task) -> Flow:
        node_id = self.place(task)
        if self._last is not None:
            self.link(self._last, "output", node_id, "input")
        self._last = node_id
        return self

    def then(self, task: Task) -> Flow:
        """``flow >> task``."""
        return self >> task

    def place(self, task: Task) -> str:
        """Add ``task`` as a node (unconnected); its node id: the task's name, else ``<name>-2``, ``-3``…"""
        if not isinstance(task, Task):
            raise FlowDefinitionError(
                f"flow {self.name!r}: only tasks (@task functions) can be added, not {type(task).__name__}"
            )
        node_id, count = task.name, 1
        while node_id in self._nodes:
            count += 1
            node_id = f"{task.name}-{count}"
        self._nodes[node_id] = task
        return node_id

    def link(self, source: str, source_port: str, target: str, target_port: str) -> None:
        """Connect two placed nodes (ports checked now: a Python task's input ports are its parameters)."""
        for node_id in (source, target):
            if node_id not in self._nodes:
                raise FlowDefinitionError(f"flow {self.name!r} has no node {node_id!r}")
        self._nodes[source].out_port(source_port)
        self._nodes[target].in_port(target_port)
        self._links.append(Link(source, source_port, target, target_port))

    @property
    def tasks(self) -> dict[str, Task]:
        """The flow's nodes: node id -> task, in the order they were added."""
        return dict(self._nodes)

    @property
    def sinks(self) -> list[str]:
        """The nodes with no outgoing connection, whose results ``run`` returns."""
        sources = {link.source for link in self._links}
        return [node_id for node_id in self._nodes if node_id not in sources]

    # the document ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The flow as a flowengine workflow (what ``flowloom run`` executes). ``FlowDefinitionError`` when
        a Python task's source cannot be read (a function typed at a prompt)."""
        return self._document(strict=True)

    def _document(self, *, strict: bool) -> dict[str, Any]:
        return flow_document(
            workflow_id=self.id,
            name=self.name,
            description=self.description,
            tasks=self._nodes,
            links=self._links,
            settings={
                "max_execution_time_ms": self.max_execution_time_ms,
                "max_parallel_nodes": self.max_parallel_nodes,
                "on_error": self.on_error,
            },
            strict=strict,
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | Path) -> None:
        """Write ``to_json()`` to ``path``."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    # running --------------------------------------------------------------------------------------------

    async def execute_async(self, **inputs: Any) -> dict[str, Any]:
        """``execute`` for async code."""
        if not self._nodes:
            raise FlowDefinitionError(f"flow {self.name!r} has no task to run")
        if self.client is not None:  # the client's call blocks: on a thread
            return await anyio.to_thread.run_sync(self._execute_on_client, inputs)
        document = self._document(strict=False)
        return await execute_here(document, python_calls(self._nodes, self._links), inputs)

    async def run_async(self, **inputs: Any) -> Any:
        """``run`` for async code."""
        return sink_result(self._nodes, self.sinks, await self.execute_async(**inputs))

    def execute(self, **inputs: Any) -> dict[str, Any]:
        """Run the flow and return its result object (``{run_id, status, outputs, nodes, error}``, node
        ids = task names). A failed node does not raise."""
        if self.client is not None:
            return self._execute_on_client(inputs)
        result: dict[str, Any] = sync(self.execute_async, inputs)
        return result

    def _execute_on_client(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if not self._nodes:
            raise FlowDefinitionError(f"flow {self.name!r} has no task to run")
        assert self.client is not None
        return self.client.execute(self.to_dict(), dict(inputs))

    def run(self, **inputs: Any) -> Any:
        """Run the flow and return its sink's result. Raises ``FlowRunError`` if the run failed."""
        return sink_result(self._nodes, self.sinks, self.execute(**inputs))

    def __repr__(self) -> str:
        return f"Flow({self.name!r}, nodes={list(self._nodes)})"


class FlowBuilder:
    """A flow built node by node: ``add(task)`` returns a handle, ``connect(a, "output", b, "p")`` gives
    ``a``'s result to ``b``'s parameter ``p`` (``"input"``: its first parameter), ``build()`` the
    ``Flow``."""

    def __init__(
        self, name: str, description: str | None = None, client: ExecutingClient | None = None
    ) -> None:
        self._flow = Flow(name, description, client=client)

    def add(self, task: Task) -> NodeHandle:
        return NodeHandle(self._flow.place(task), task)

    def connect(
        self, from_task: NodeHandle, from_port: str, to_task: NodeHandle, to_port: str
    ) -> FlowBuilder:
        placed = self._flow.tasks
        for handle in (from_task, to_task):
            if not isinstance(handle, NodeHandle):
                raise FlowDefinitionError(
                    f"connect takes the handles add() returned, not {type(handle).__name__}"
                )
            if placed.get(handle.node_id) is not handle.task:
                raise FlowDefinitionError(
                    f"{handle.node_id!r} was not added to this builder ({self._flow.name!r})"
                )
        self._flow.link(from_task.node_id, from_port, to_task.node_id, to_port)
        return self

    def build(self) -> Flow:
        """The flow (the builder's own: build once)."""
        return self._flow
