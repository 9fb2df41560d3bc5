"""flowengine's Python SDK on flowloom: ``@task`` functions placed in a ``Flow`` (``flow >> a >> b``) or a
``FlowBuilder``, run on flowloom's engine in this process (``flow.run(**inputs)`` returns the result) or
saved as flowengine JSON that ``flowloom run`` executes; ``Sandbox`` runs commands in the local bubblewrap
sandbox or through Zypi. The contract: ``../shared/conformance/flowengine/README.md``, "The Python SDK".

    from flowloom.flowengine import Flow, task

    @task(retry=3, timeout=30)
    def double(n: int) -> int:
        return n * 2

    flow = Flow("doubling")
    flow >> double
    flow.run(n=21)  # 42
"""

from __future__ import annotations

from ._flow import ExecutingClient, Flow, FlowBuilder, NodeHandle
from ._run import FlowRunError
from ._sandbox import Sandbox, SandboxConfig, SandboxError
from ._task import Task, task
from ._types import Connection, FlowDefinitionError, NodeSpec, RetryPolicy, WorkflowSpec

__all__ = [
    "Connection",
    "ExecutingClient",
    "Flow",
    "FlowBuilder",
    "FlowDefinitionError",
    "FlowRunError",
    "NodeHandle",
    "NodeSpec",
    "RetryPolicy",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "Task",
    "WorkflowSpec",
    "task",
]
