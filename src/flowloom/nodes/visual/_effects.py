"""Effects: nodes that pause the run on flowloom's durable waits (ask_user, wait_event, wait_until, the
on_event and on_schedule entries) and those that do not (answer_user, emit_event). A waiting node runs again
when the wait is answered, with the answer in ``ctx.answers``."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flowloom.engine import NodeContext, NodeError
from flowloom.ir import Wait

from ._base import ExecNode, Outcome, State, exec_type
from ._control import py_text

USER, EVENT, UNTIL = "user", "event", "until"


def _answer(ctx: NodeContext, key: str | None = None) -> tuple[bool, Any]:
    answers = ctx.answers
    if key is not None:
        return (key in answers, answers.get(key))
    if answers:
        return True, next(iter(answers.values()))
    return False, None


async def ask_user(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    answered, payload = _answer(ctx)
    if answered:
        if isinstance(payload, Mapping):
            return Outcome({**payload, "response": payload.get("response")})
        return Outcome({"response": payload})
    prompt = inputs.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise NodeError("ask_user requires a non-empty prompt")
    choices = inputs.get("choices")
    return Wait(reason=USER, prompt=prompt, choices=list(choices) if isinstance(choices, list) else [])


def _iso_seconds(text: str, what: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NodeError(f"{what}: {text!r} is not a valid ISO timestamp") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


async def wait_event(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    key = inputs.get("event_key") or "default"
    key = str(key)
    answered, payload = _answer(ctx, key)
    if answered:
        return Outcome({"event_data": payload, "event_key": key})
    until = None
    if isinstance(inputs.get("until"), str) and inputs["until"]:
        until = _iso_seconds(inputs["until"], "wait_event until")
    elif isinstance(inputs.get("timeout_s"), int | float) and inputs["timeout_s"] > 0:
        until = time.time() + float(inputs["timeout_s"])
    prompt = inputs.get("prompt") if isinstance(inputs.get("prompt"), str) else None
    raw = inputs.get("choices")
    choices = [c for c in raw if c not in ("", None)] if isinstance(raw, list) else None
    return Wait(key=key, reason=EVENT, prompt=prompt, choices=choices, until=until)


_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}


async def wait_until(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    if _answer(ctx)[0]:
        return Outcome({}, passthrough=True)
    config = ctx.data.get("config", {}).get("effectConfig") or {}
    kind = str(config.get("durationType") or "seconds")
    raw = inputs.get("duration", inputs.get("timestamp"))
    if kind == "timestamp" or (isinstance(raw, str) and not _is_number(raw)):
        until = _iso_seconds(str(raw), "wait_until")
    else:
        try:
            seconds = float(raw or 0) * _UNITS.get(kind, 1.0)
        except (TypeError, ValueError):
            raise NodeError(f"wait_until: duration {raw!r} is not a number") from None
        if seconds <= 0:
            return Outcome({}, passthrough=True)
        until = time.time() + seconds
    if until <= time.time():
        return Outcome({}, passthrough=True)
    return Wait(reason=UNTIL, until=until)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def answer_user(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    return Outcome({"message": py_text(inputs.get("message"))})


async def emit_event(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    name = inputs.get("name")
    if not isinstance(name, str) or not name.strip():
        raise NodeError("emit_event: missing event name")
    return Outcome({"delivered": 0, "delivered_to": [], "wait_key": None})


def _event_config(ctx: NodeContext) -> Mapping[str, Any]:
    """The editor keeps a listener's settings in ``data.eventConfig``; a wired or default pin wins."""
    config = ctx.data.get("config", {}).get("eventConfig")
    return config if isinstance(config, Mapping) else {}


def _configured(inputs: dict[str, Any], pin: str, config: Mapping[str, Any], *keys: str) -> str:
    for value in (inputs.get(pin), *(config.get(key) for key in keys)):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


async def on_event(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    name = _configured(inputs, "name", _event_config(ctx), "name", "event_name") or None
    answered, payload = _answer(ctx)
    if answered:
        return Outcome({"event": {"name": name, "payload": payload}, "payload": payload})
    return Wait(reason=EVENT, details={"name": py_text(name)})


_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


async def on_schedule(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    if _answer(ctx)[0]:
        return Outcome({"timestamp": datetime.now(UTC).isoformat()})
    # AbstractRuntime's default when neither the pin nor eventConfig sets one
    schedule = _configured(inputs, "schedule", _event_config(ctx), "schedule") or "15s"
    match = _INTERVAL.match(schedule)
    if match is None:
        until = _iso_seconds(schedule, "on_schedule")
    else:
        unit = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}[match.group(2)]
        until = time.time() + float(match.group(1)) * unit
    return Wait(reason=UNTIL, until=until)


def effect_types() -> list[ExecNode]:
    return [
        exec_type(
            "ask_user",
            ask_user,
            "Waits for a person's answer (reason user).",
            category="effects",
            inputs=("prompt", "choices"),
            outputs=("exec-out", "response"),
        ),
        exec_type(
            "wait_event",
            wait_event,
            "Waits for an event under its key (reason event).",
            category="effects",
            inputs=("event_key", "prompt", "choices", "until", "timeout_s"),
            outputs=("exec-out", "event_data", "event_key"),
        ),
        exec_type(
            "wait_until",
            wait_until,
            "Waits until a time (reason until).",
            category="effects",
            inputs=("duration",),
        ),
        exec_type(
            "answer_user",
            answer_user,
            "Shows a message; does not wait.",
            category="effects",
            inputs=("message", "level"),
            outputs=("exec-out", "message"),
        ),
        exec_type(
            "emit_event",
            emit_event,
            "Emits an event to listeners (none here); does not wait.",
            category="effects",
            inputs=("name", "scope", "payload", "session_id"),
            outputs=("exec-out", "delivered", "delivered_to", "wait_key"),
        ),
        exec_type(
            "on_event",
            on_event,
            "An entry that waits for its event and runs its branch each time.",
            category="entry",
            inputs=("name", "scope"),
            outputs=("exec-out", "event", "payload"),
        ),
        exec_type(
            "on_schedule",
            on_schedule,
            "An entry that waits for its schedule, then runs.",
            category="entry",
            inputs=("schedule", "recurrent"),
            outputs=("exec-out", "timestamp"),
        ),
    ]
