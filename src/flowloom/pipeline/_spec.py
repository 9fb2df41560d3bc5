"""``TaskSpec``: one task read from its function's signature: what it depends on and what it is given."""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any

from flowloom.ir import RetryPolicy

from ._context import RunContext

UPSTREAM = "upstream"
_CONTEXT_TEXT = re.compile(r"\bRunContext\b")
_INJECTABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """A registered task.

    ``deps``: the tasks it waits for, by name. ``named``: (parameter, dependency) pairs whose results it is
    given by keyword; ``takes_upstream``: it gets every dependency result in its ``upstream`` dict instead.
    ``context_param``: the parameter that gets the ``RunContext``. ``unprovided``: required parameters
    nothing provides, and ``foreign``: dependencies on callables of other pipelines (both reported by
    ``Pipeline.validate()``). ``local``: a sync task that runs on the pipeline's own threads even when
    the pipeline's workers are elsewhere (a cluster).
    """

    name: str
    fn: Callable[..., Any]
    deps: tuple[str, ...]
    is_async: bool
    timeout_s: float | None = None
    retry: RetryPolicy | None = None
    named: tuple[tuple[str, str], ...] = ()
    takes_upstream: bool = False
    context_param: str | None = None
    unprovided: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
    inferred: bool = False
    local: bool = False

    @property
    def retries(self) -> int:
        """Attempts after the first failed one."""
        return 0 if self.retry is None else self.retry.max_attempts - 1

    @property
    def function_name(self) -> str:
        module = getattr(self.fn, "__module__", None)
        qualname = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
        return f"{module}.{qualname}" if module else qualname


def is_async_callable(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 (a callable object's async __call__)
    return not inspect.isfunction(fn) and call is not None and inspect.iscoroutinefunction(call)


def build_spec(
    *,
    name: str,
    fn: Callable[..., Any],
    deps: Sequence[str] | None,
    registered: Container[str],
    timeout_s: float | None = None,
    retry: RetryPolicy | None = None,
    foreign: Sequence[str] = (),
    local: bool = False,
) -> TaskSpec:
    """Read ``fn``'s signature. With ``deps=None`` the dependencies are its required parameters named like
    tasks in ``registered``; otherwise parameters named like a dependency get its result."""
    params = _parameters(fn)
    context_param = next((p.name for p in params if p.kind in _INJECTABLE and _is_context(p, fn)), None)
    takes_upstream = any(p.name == UPSTREAM and p.kind in _INJECTABLE for p in params)
    special = {context_param, UPSTREAM if takes_upstream else None}
    candidates = [p for p in params if p.name not in special]
    required = [p.name for p in candidates if p.default is inspect.Parameter.empty]
    if deps is None:
        chosen = () if takes_upstream else tuple(n for n in required if n in registered)
    else:
        chosen = tuple(dict.fromkeys(deps))
    named: tuple[tuple[str, str], ...] = ()
    if not takes_upstream:
        named = tuple((p.name, p.name) for p in candidates if p.name in chosen and p.kind in _INJECTABLE)
    given = {param for param, _dep in named}
    unprovided = tuple(n for n in required if n not in given)
    return TaskSpec(
        name=name,
        fn=fn,
        deps=chosen,
        is_async=is_async_callable(fn),
        timeout_s=timeout_s,
        retry=retry,
        named=named,
        takes_upstream=takes_upstream,
        context_param=context_param,
        unprovided=unprovided,
        foreign=tuple(foreign),
        inferred=deps is None,
        local=local,
    )


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of {fn!r} to register it as a task: {exc}") from exc
    return [
        p
        for p in signature.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _is_context(param: inspect.Parameter, fn: Callable[..., Any]) -> bool:
    """Whether ``param`` is annotated ``RunContext`` (also ``RunContext[Deps]``, ``RunContext | None``,
    ``Annotated[RunContext[Deps], ...]``, and postponed annotations as strings)."""
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return False
    if isinstance(annotation, str):
        hints = _type_hints(fn)
        if param.name in hints:
            annotation = hints[param.name]
        else:
            return bool(_CONTEXT_TEXT.search(annotation))
    return _mentions_context(annotation)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = inspect.unwrap(fn) if inspect.isfunction(fn) else getattr(fn, "__call__", fn)  # noqa: B004
    try:
        return typing.get_type_hints(target)
    except Exception:  # an annotation that does not evaluate: the caller falls back to its text
        return {}


def _mentions_context(annotation: Any) -> bool:
    if annotation is RunContext or typing.get_origin(annotation) is RunContext:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _mentions_context(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, RunContext):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_mentions_context(arg) for arg in typing.get_args(annotation))
    return False
