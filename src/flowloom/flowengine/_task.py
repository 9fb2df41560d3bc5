"""``@task``: a function as a flowengine node. A task is immutable: flows place it as nodes of their own
and never change it, so one task may serve several flows, and one flow several times."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

from ._types import FlowDefinitionError, RetryPolicy

# node types that run a Python task's function when their config has no ``command``
PYTHON_NODE_TYPES = ("shell.exec", "zypi.exec", "sandbox.exec")
# the ports ``>>`` and the ``input``/``output`` aliases use for a built-in node type
_DEFAULT_IN = {
    "http.request": "url",
    "transform.json_parse": "json",
    "transform.json_stringify": "value",
    "debug.log": "message",
    "docker.run": "data",
    "shell.exec": "stdin",
    "zypi.exec": "stdin",
    "sandbox.exec": "stdin",
    "api.call": "stdin",
}
_DEFAULT_OUT = {
    "http.request": "body",
    "transform.json_parse": "parsed",
    "transform.json_stringify": "json",
    "debug.log": "message",
}


@dataclass(frozen=True, slots=True, eq=False)
class Task:
    """A node made from a function (``@task``). Calling it calls the function.

    A *Python task* (``node_type`` ``shell.exec``, ``zypi.exec`` or ``sandbox.exec`` with no ``command`` in
    its config) runs the function with its parameters bound from the node's inputs; any other task is a
    node of its ``node_type`` with ``config``, and its function is never run."""

    fn: Callable[..., Any]
    name: str
    node_type: str = "shell.exec"
    retry: RetryPolicy | None = None
    timeout: float | None = None
    image: str | None = None
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def is_python(self) -> bool:
        return self.node_type in PYTHON_NODE_TYPES and self.config.get("command") is None

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The parameters inputs bind to (``*args``/``**kwargs`` take none)."""
        return tuple(
            param
            for param in inspect.signature(self.fn).parameters.values()
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        )

    def in_port(self, port: str) -> str:
        """The port a connection into this task names: ``input`` is the first parameter of a Python task
        (the default input port of a built-in node); a Python task's other ports are its parameters."""
        if not self.is_python:
            return _DEFAULT_IN.get(self.node_type, port) if port == "input" else port
        names = [param.name for param in self.parameters]
        if port == "input":
            if not names:
                raise FlowDefinitionError(f'task "{self.name}" takes no parameter to receive an input')
            return names[0]
        if port not in names:
            raise FlowDefinitionError(
                f'task "{self.name}" has no parameter "{port}" (its parameters: {", ".join(names) or "none"})'
            )
        return port

    def out_port(self, port: str) -> str:
        """The port a connection out of this task names: ``output`` is a built-in node's default output."""
        if port == "output" and not self.is_python and self.node_type in _DEFAULT_OUT:
            return _DEFAULT_OUT[self.node_type]
        return port

    @property
    def result_port(self) -> str:
        """The output port holding the task's result, as ``flow.run`` returns it."""
        return self.out_port("output")

    def __repr__(self) -> str:
        return f"Task({self.name!r}, node_type={self.node_type!r})"


@overload
def task(fn: Callable[..., Any], /) -> Task: ...


@overload
def task(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    node_type: str = "shell.exec",
    image: str | None = None,
    **config: Any,
) -> Callable[[Callable[..., Any]], Task]: ...


def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    node_type: str = "shell.exec",
    image: str | None = None,
    **config: Any,
) -> Task | Callable[[Callable[..., Any]], Task]:
    """Make a task of a function: ``@task``, ``@task()`` or ``@task(name=…, retry=…, timeout=…,
    node_type=…, image=…, **config)``. ``retry=N`` tries the node N times in all (the other retry settings
    at their defaults); ``retry=RetryPolicy(…)`` sets them all. ``timeout`` bounds one attempt, in
    seconds. Raises ``FlowDefinitionError`` for an unknown node type or a bad setting."""

    def make(function: Callable[..., Any]) -> Task:
        return _make_task(function, name, retry, timeout, node_type, image, config)

    return make(fn) if fn is not None else make


def _make_task(
    fn: Callable[..., Any],
    name: str | None,
    retry: int | RetryPolicy | None,
    timeout: float | None,
    node_type: str,
    image: str | None,
    config: dict[str, Any],
) -> Task:
    if not callable(fn):
        raise FlowDefinitionError(f"@task decorates a function, not {type(fn).__name__}")
    label = name if name is not None else getattr(fn, "__name__", None)
    if not isinstance(label, str) or not label:
        raise FlowDefinitionError(f"task {fn!r} needs a name: pass name=")
    _check_node_type(label, node_type)
    try:
        inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise FlowDefinitionError(f'task "{label}": its signature cannot be read ({exc})') from exc
    policy: RetryPolicy | None
    if retry is None or isinstance(retry, RetryPolicy):
        policy = retry
    elif isinstance(retry, int) and not isinstance(retry, bool) and retry >= 1:
        policy = RetryPolicy(max_attempts=retry)
    else:
        raise FlowDefinitionError(
            f'task "{label}": retry must be a number of attempts >= 1 or a RetryPolicy, not {retry!r}'
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise FlowDefinitionError(
            f'task "{label}": timeout must be a positive number of seconds, not {timeout!r}'
        )
    return Task(
        fn=fn,
        name=label,
        node_type=node_type,
        retry=policy,
        timeout=timeout,
        image=image,
        config=MappingProxyType(dict(config)),
    )


def _check_node_type(name: str, node_type: str) -> None:
    from flowloom.nodes import NodeRegistry  # the node types are read only when a task is made

    if not isinstance(node_type, str) or NodeRegistry.default().get(node_type) is None:
        known = sorted(executor.type for executor in NodeRegistry.default())
        raise FlowDefinitionError(
            f'task "{name}": unknown node_type {node_type!r} (known: {", ".join(known)})'
        )
