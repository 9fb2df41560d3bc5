"""A document's ``triggers`` key, the same for every format: read into ``ir.Trigger`` models, with messages
naming the trigger's index and field.

Two shapes are read. flowloom's: ``{"kind": "cron", "expression": "0 * * * *", "timezone": "UTC",
"inputs": {}}``, ``{"kind": "webhook", "path": "github/push", "secret": "..."}``, ``{"kind": "event",
"type": "order.created"}``, ``{"kind": "manual"}`` (each with an optional ``id`` and ``enabled``).
flowengine's ``TriggerSpec``: ``{"id": ..., "enabled": true, "trigger_type": {"type": "Cron", "expression":
...}}`` (``Webhook`` with ``path``, ``Event`` with ``event_type``, ``Manual``), whose ``trigger_type`` may
also carry flowloom's extra keys (``timezone``, ``inputs``, ``secret``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from flowloom.ir import Trigger, TriggerKind, secret_digest

TRIGGERS_KEY = "triggers"
_KINDS = ", ".join(f'"{kind}"' for kind in TriggerKind)
_FLOWENGINE_TYPES = {"Cron": "cron", "Webhook": "webhook", "Event": "event", "Manual": "manual"}
_FLOWENGINE_RENAMES = {"event_type": "type"}
_FLOWENGINE_NAMES = {ours: theirs for theirs, ours in _FLOWENGINE_RENAMES.items()}


@cache
def _adapter() -> TypeAdapter[Trigger]:
    return TypeAdapter(Trigger)


def read_triggers(document: Any) -> tuple[list[Trigger], list[str]]:
    """The triggers a document declares (none when it has no ``triggers`` key), and what is wrong with
    them."""
    raw = document.get(TRIGGERS_KEY) if isinstance(document, Mapping) else None
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f'"{TRIGGERS_KEY}" must be an array of triggers, got {_json_type(raw)}']
    triggers: list[Trigger] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        where = f"{TRIGGERS_KEY}[{index}]"
        fields, problem = _flowloom_shape(item)
        if problem is not None:
            problems.append(f"{where}: {problem}")
            continue
        try:
            triggers.append(_adapter().validate_python(fields))
        except ValidationError as exc:
            flowengine = isinstance(item, Mapping) and "kind" not in item
            problems.extend(
                f"{where}{_place(error['loc'], flowengine)}: {_text(error)}" for error in exc.errors()
            )
    return triggers, problems


def seal_secrets(document: Any) -> Any:
    """``document`` with every webhook ``secret`` given in clear replaced by its ``secret_sha256``: what a
    store may keep. The document is not changed; a new one is returned when there was something to seal."""
    raw = document.get(TRIGGERS_KEY) if isinstance(document, Mapping) else None
    if not isinstance(raw, list) or not any(_has_secret(item) for item in raw):
        return document
    sealed = [_sealed(item) for item in raw]
    return {**document, TRIGGERS_KEY: sealed}


def _has_secret(item: Any) -> bool:
    if not isinstance(item, Mapping):
        return False
    inner = item.get("trigger_type")
    return isinstance(item.get("secret"), str) or (
        isinstance(inner, Mapping) and isinstance(inner.get("secret"), str)
    )


def _sealed(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    item = dict(item)
    secret = item.pop("secret", None)
    if isinstance(secret, str):
        item["secret_sha256"] = secret_digest(secret)
    elif secret is not None:
        item["secret"] = secret  # not a string: left for validation to refuse
    inner = item.get("trigger_type")
    if isinstance(inner, Mapping) and isinstance(inner.get("secret"), str):
        item["trigger_type"] = _sealed(inner)
    return item


def _flowloom_shape(item: Any) -> tuple[dict[str, Any], str | None]:
    """flowloom's fields of one trigger (flowengine's ``TriggerSpec`` translated), or what is wrong."""
    if not isinstance(item, Mapping):
        return {}, f"a trigger is a JSON object, got {_json_type(item)}"
    if "trigger_type" in item and "kind" not in item:
        inner = item["trigger_type"]
        if not isinstance(inner, Mapping):
            return {}, f'"trigger_type" must be an object with a "type", got {_json_type(inner)}'
        name = inner.get("type")
        kind = _FLOWENGINE_TYPES.get(name) if isinstance(name, str) else None
        if kind is None:
            known = ", ".join(f'"{n}"' for n in _FLOWENGINE_TYPES)
            return {}, f'"trigger_type.type" must be one of {known}, got {name!r}'
        fields = {_FLOWENGINE_RENAMES.get(str(k), str(k)): v for k, v in inner.items() if k != "type"}
        fields["kind"] = kind
        for key in ("id", "enabled"):
            if item.get(key) is not None:
                fields[key] = item[key]
        return fields, None
    kind = item.get("kind")
    if kind not in set(TriggerKind):
        return {}, f'"kind" must be one of {_KINDS}, got {kind!r}'
    return dict(item), None


def _place(loc: tuple[int | str, ...], flowengine: bool) -> str:
    """Where in the trigger, as its document spells it (flowengine's fields are in ``trigger_type``)."""
    fields = [str(part) for part in loc[1:]]  # loc[0] is the union's tag
    if flowengine and fields and fields[0] not in ("id", "enabled"):
        fields = ["trigger_type", _FLOWENGINE_NAMES.get(fields[0], fields[0]), *fields[1:]]
    return "." + ".".join(fields) if fields else ""


def _text(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "is not a field of this kind of trigger"
    if error["type"] == "missing":
        return "is required"
    return message


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
