"""flowloom's per-node settings in flowgram JSON (``retry``, ``timeoutS``, ``cache``), which upstream
ignores. A malformed one is left out of the workflow (the node runs as if it had none, as upstream would run
it), and named: a run warns about it in ``messages.warning``, strict validation refuses the workflow."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from flowloom.ir import CachePolicy, RetryPolicy

Problem = tuple[str, str | None]
"""A message and the id of the node it is about."""

RETRY, CACHE, TIMEOUT = "retry", "cache", "timeoutS"


def retry_policy(raw: Mapping[str, Any]) -> RetryPolicy | None:
    policy = _policy(raw.get(RETRY), RetryPolicy)
    return policy if isinstance(policy, RetryPolicy) else None


def cache_policy(raw: Mapping[str, Any]) -> CachePolicy | None:
    policy = _policy(raw.get(CACHE), CachePolicy)
    return policy if isinstance(policy, CachePolicy) and _ttl_problem(raw.get(CACHE)) is None else None


def timeout_s(raw: Mapping[str, Any]) -> float | None:
    value = raw.get(TIMEOUT)
    return float(value) if _timeout_problem(value) is None and value is not None else None


def settings_problems(document: Mapping[str, Any]) -> list[Problem]:
    """Every malformed setting of every node (loop bodies included), each naming node and field."""
    return [problem for node in _all_nodes(document) for problem in _node_problems(node)]


def _node_problems(node: Mapping[str, Any]) -> Iterator[Problem]:
    node_id = str(node.get("id"))

    def problem(text: str) -> Problem:
        return f'node "{node_id}": {text}', node_id

    for key, model in ((RETRY, RetryPolicy), (CACHE, CachePolicy)):
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            yield problem(f"{key} must be an object, got {_json_type(value)}")
            continue
        yield from (problem(text) for text in _model_problems(key, value, model))
    ttl = _ttl_problem(node.get(CACHE))
    if ttl is not None:
        yield problem(ttl)
    timeout = _timeout_problem(node.get(TIMEOUT))
    if timeout is not None:
        yield problem(timeout)


def _model_problems(key: str, value: Mapping[str, Any], model: type[BaseModel]) -> Iterator[str]:
    known = {field.alias or name for name, field in model.model_fields.items()}
    for unknown in sorted(str(k) for k in value if k not in known and k not in model.model_fields):
        yield f"{key}.{unknown} is not a setting (known: {', '.join(sorted(known))})"
    try:
        model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in (key, *error["loc"]))
            yield f"{where}: {error['msg']} (got {_shown(error.get('input'))})"


def _ttl_problem(cache: object) -> str | None:
    if not isinstance(cache, Mapping):
        return None
    ttl = cache.get("ttlS")
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or (math.isfinite(ttl) and ttl > 0):
        return None  # a non-number is the model's problem
    return f"{CACHE}.ttlS must be a positive number of seconds (got {_shown(ttl)})"


def _timeout_problem(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and _is_number(value) and math.isfinite(value) and value > 0:
        return None
    return f"{TIMEOUT} must be a positive number of seconds (got {_shown(value)})"


def _policy(value: object, model: type[BaseModel]) -> BaseModel | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _all_nodes(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    nodes = document.get("nodes")
    pending = list(reversed(nodes)) if isinstance(nodes, list) else []
    while pending:
        node = pending.pop()
        if not isinstance(node, Mapping):
            continue
        yield node
        blocks = node.get("blocks")
        if isinstance(blocks, list):
            pending.extend(reversed(blocks))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def _shown(value: object) -> str:
    text = (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    return text if len(text) <= 40 else text[:37] + "..."
