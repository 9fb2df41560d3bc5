"""A flow's tasks and links as a flowengine workflow: node ids are the placed names, a Python task is a
``shell.exec`` node running ``python3 -c <script>`` (``zypi.exec``/``sandbox.exec``: the same command in that
sandbox), the ``output``/``input`` aliases resolved to ports.

A Python task's result reaches another Python task as JSON text (its ``stdout`` port), so the next script
reads it back exactly; its parameters are the input ports, which ``shell.exec`` hands to the script as
environment variables named by the upper-cased parameter. Each such variable is set to ``FLOWLOOM_MISSING``
in the node's ``env`` config, which a real input overrides, so the script tells a missing input from a
variable the environment happens to hold."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._binding import FLOWLOOM_MISSING
from ._executor import PythonCall
from ._script import python_script
from ._task import Task
from ._types import Connection, FlowDefinitionError, NodeSpec, WorkflowSpec

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_KEPT_ENV = frozenset({"PATH"})  # never shadowed: the sandbox looks python3 up with it


@dataclass(frozen=True, slots=True)
class Link:
    """A connection as the flow's author wrote it (``output``/``input`` aliases not yet resolved)."""

    source: str
    source_port: str
    target: str
    target_port: str


def connections(tasks: Mapping[str, Task], links: Sequence[Link]) -> list[Connection]:
    """The links with their ports resolved: a Python task's result goes to another Python task as JSON
    text (``stdout``)."""
    found = []
    for link in links:
        source, target = tasks[link.source], tasks[link.target]
        from_port = source.out_port(link.source_port)
        if source.is_python and target.is_python and from_port == "output":
            from_port = "stdout"
        found.append(Connection(link.source, from_port, link.target, target.in_port(link.target_port)))
    return found


def _json_fed(node_id: str, tasks: Mapping[str, Task], resolved: Sequence[Connection]) -> set[str]:
    """The parameters of ``node_id`` that receive another Python task's JSON text."""
    return {
        c.to_port
        for c in resolved
        if c.to_node == node_id and c.from_port == "stdout" and tasks[c.from_node].is_python
    }


def _script_how(task: Task, json_fed: set[str]) -> dict[str, str]:
    how = {}
    for param in task.parameters:
        if param.name in json_fed:
            how[param.name] = "json"
        else:  # an environment variable: a str parameter keeps the text, others parse it if they can
            how[param.name] = "text" if param.annotation in (str, "str") else "guess"
    return how


def python_calls(tasks: Mapping[str, Task], links: Sequence[Link]) -> dict[str, PythonCall]:
    """The functions of the ``shell.exec`` Python tasks a run in this process calls, by node id."""
    resolved = connections(tasks, links)
    calls = {}
    for node_id, task in tasks.items():
        if task.is_python and task.node_type == "shell.exec":
            fed = _json_fed(node_id, tasks, resolved)
            how = {param.name: "json" if param.name in fed else "value" for param in task.parameters}
            calls[node_id] = PythonCall(task.fn, how, task.timeout)
    return calls


def flow_document(
    *,
    workflow_id: str,
    name: str,
    description: str | None,
    tasks: Mapping[str, Task],
    links: Sequence[Link],
    settings: Mapping[str, Any],
    strict: bool,
) -> dict[str, Any]:
    """The workflow document. ``strict``: a Python task whose source cannot be read raises
    ``FlowDefinitionError``; otherwise (a run in this process, which calls the function) its script is one
    that fails saying so."""
    resolved = connections(tasks, links)
    nodes = [
        _node(node_id, task, _json_fed(node_id, tasks, resolved), strict=strict)
        for node_id, task in tasks.items()
    ]
    spec = WorkflowSpec(
        id=workflow_id,
        name=name,
        description=description,
        nodes=tuple(nodes),
        connections=tuple(resolved),
        max_parallel_nodes=settings["max_parallel_nodes"],
        on_error=settings["on_error"],
        max_execution_time_ms=settings["max_execution_time_ms"],
    )
    return spec.to_dict()


def _node(node_id: str, task: Task, json_fed: set[str], *, strict: bool) -> NodeSpec:
    config = dict(task.config)
    if task.is_python:
        try:
            script = python_script(task.fn, _script_how(task, json_fed), task_name=node_id)
        except FlowDefinitionError as exc:
            if strict:
                raise
            script = f"import sys\nsys.stderr.write({json.dumps(str(exc))} + '\\n')\nsys.exit(1)\n"
        env = {
            param.name.upper(): FLOWLOOM_MISSING
            for param in task.parameters
            if param.name != "stdin"
            and _ENV_NAME.fullmatch(param.name.upper())
            and param.name.upper() not in _KEPT_ENV
        }
        env.update(config.get("env") or {})
        config["env"] = env
        if task.node_type == "shell.exec":
            config.update(command="python3", args=["-c", script])
        else:
            config["command"] = ["python3", "-c", script]
    if task.timeout is not None:
        config["timeout"] = task.timeout
    if task.image is not None:
        config["image"] = task.image
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FlowDefinitionError(f'task "{node_id}": its config is not JSON ({exc})') from exc
    return NodeSpec(
        id=node_id, node_type=task.node_type, name=task.name, config=config, retry_policy=task.retry
    )
