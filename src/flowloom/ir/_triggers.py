"""What starts a saved workflow on its own: a cron schedule, a webhook, a named event, or a person (manual).

A workflow document of any format declares them under its ``triggers`` key; ``Workflow.triggers`` keeps them.
The shapes are checked here (paths, event types, time zones); a cron expression's syntax is checked by the
engine when it compiles the workflow (the cron library is not part of this pure-data layer)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")
_EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_NAME = 200


class TriggerKind(StrEnum):
    CRON = "cron"
    WEBHOOK = "webhook"
    EVENT = "event"
    MANUAL = "manual"


class _TriggerBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    """A stable name for the trigger; its key in the store (its index in ``triggers`` when absent)."""
    enabled: bool = True


class CronTrigger(_TriggerBase):
    """Fires at every tick of ``expression``: five fields (minute hour day month weekday) or six, with
    seconds first. ``timezone`` (IANA name; default UTC) is where the ticks are read; ``inputs`` are the
    run's inputs."""

    kind: Literal["cron"] = "cron"
    expression: str = Field(min_length=1, max_length=MAX_NAME)
    timezone: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris')"
                ) from None
        return value


class WebhookTrigger(_TriggerBase):
    """Fires on ``POST /hooks/{path}``, the request's JSON body being the run's inputs. With a secret, the
    request must carry it (header ``X-Flowloom-Secret``). Only its SHA-256 digest is kept: a ``secret``
    given in clear is replaced by ``secret_sha256`` when read."""

    kind: Literal["webhook"] = "webhook"
    path: str = Field(max_length=MAX_NAME)
    secret_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _digest_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            data = dict(data)
            secret = data.pop("secret")
            if secret is not None:
                if not isinstance(secret, str) or not secret:
                    raise ValueError('"secret" must be a non-empty string')
                data["secret_sha256"] = secret_digest(secret)
        return data

    @field_validator("path", mode="before")
    @classmethod
    def _plain_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip("/")
            if not _PATH.fullmatch(value):
                raise ValueError(
                    f"a webhook path is one or more segments of letters, digits, '.', '_', '~' or '-' "
                    f"separated by '/', got {value!r}"
                )
        return value

    @field_validator("secret_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_HEX.fullmatch(value):
            raise ValueError("secret_sha256 must be 64 lowercase hex digits")
        return value


class EventTrigger(_TriggerBase):
    """Fires on ``POST /api/v1/events/{type}``, the request's JSON body being the run's inputs."""

    kind: Literal["event"] = "event"
    type: str = Field(max_length=MAX_NAME)

    @field_validator("type")
    @classmethod
    def _plain_type(cls, value: str) -> str:
        if not _EVENT_TYPE.fullmatch(value):
            raise ValueError(
                f"an event type starts with a letter or digit and holds only letters, digits, '.', '_', ':' "
                f"or '-', got {value!r}"
            )
        return value


class ManualTrigger(_TriggerBase):
    """Started by a person or a program through the API (every saved workflow can be)."""

    kind: Literal["manual"] = "manual"


Trigger = Annotated[CronTrigger | WebhookTrigger | EventTrigger | ManualTrigger, Field(discriminator="kind")]
"""One trigger of a workflow, told apart by ``kind``."""


def trigger_key(trigger: CronTrigger | WebhookTrigger | EventTrigger | ManualTrigger, index: int) -> str:
    """The trigger's key among its workflow's: its ``id``, else its index."""
    return trigger.id if trigger.id is not None else str(index)


def secret_digest(secret: str) -> str:
    """How a webhook secret is kept: its SHA-256 digest, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerFire:
    """A claim in the store: trigger ``trigger_key`` of saved workflow ``workflow_id`` fired for ``tick``
    (epoch seconds; a cron tick) and started ``run_id``. One claim per (workflow, trigger, tick): among
    servers sharing a store, the one whose claim is stored starts the run."""

    workflow_id: str
    trigger_key: str
    tick: float
    run_id: str
    fired_at: float
