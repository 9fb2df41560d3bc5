"""How a Python task's parameters are bound from its node's inputs, in one place for both ways a task runs:
in the engine's process (``_executor``) and as a ``python3 -c`` script of a saved flow (``_script``), which
embeds this module's source. So this module uses the standard library only, imports inside its functions
(a task's own module may rebind any name) and names everything ``flowloom_*``.

Each parameter is decoded by its ``how``: ``value`` (a JSON value as it is), ``json`` (JSON text: the
``stdout`` of another Python task), ``text`` (a string kept as it is: a ``str`` parameter read from an
environment variable), ``guess`` (JSON text if it parses, else the text)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

FLOWLOOM_MISSING = "__flowloom_missing__"  # an input the node did not get (set in the node's env config)


def flowloom_decode(value: Any, how: str) -> Any:
    """One input decoded as ``how`` says."""
    import json

    if not isinstance(value, str) or how in ("value", "text"):
        return value
    if how == "json":
        return json.loads(value)
    try:
        return json.loads(value)
    except ValueError:
        return value


def flowloom_bind(
    fn: Callable[..., Any], values: Mapping[str, Any], how: Mapping[str, str]
) -> dict[str, Any]:
    """The keyword arguments of ``fn`` from ``values`` (port name = parameter name): a parameter with a
    default may be missing, one without raises ``LookupError("Missing required input: <name>")``; values
    no parameter takes are left out."""
    import inspect

    arguments: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = values.get(param.name, FLOWLOOM_MISSING)
        if isinstance(value, str) and value == FLOWLOOM_MISSING:
            if param.default is param.empty:
                raise LookupError(f"Missing required input: {param.name}")
            continue
        arguments[param.name] = flowloom_decode(value, how.get(param.name, "value"))
    return arguments


def flowloom_main(fn: Callable[..., Any], how: Mapping[str, str]) -> None:
    """A saved flow's Python task: inputs from the environment (``stdin`` from stdin), the function called
    with what it prints sent to stderr, its result written to stdout as JSON. Exit 2: an input is missing;
    exit 1: the function raised, or its result is not JSON (the reason on stderr)."""
    import asyncio
    import contextlib
    import inspect
    import json
    import os
    import sys

    values: dict[str, Any] = {}
    for name in how:
        raw = (sys.stdin.read() or None) if name == "stdin" else os.environ.get(name.upper())
        if raw is not None:
            values[name] = raw
    try:
        arguments = flowloom_bind(fn, values, how)
    except LookupError as exc:
        sys.stderr.write(f"{exc.args[0]}\n")
        sys.exit(2)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = fn(**arguments)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
    except Exception as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.exit(1)
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        sys.stderr.write(f"{fn.__name__} returned a {type(result).__name__}, which is not JSON: {exc}\n")
        sys.exit(1)
    sys.stdout.write(text)
