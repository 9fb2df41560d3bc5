"""Cron schedules for ``CronTrigger``s, through croniter: five fields (minute hour day month weekday), or six
with seconds first (as Quartz and Rust's ``cron`` crate write them), or a nickname such as ``@hourly``. Ticks
are read in the trigger's time zone (UTC by default) and given as epoch seconds."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flowloom.ir import CronTrigger, Workflow

if TYPE_CHECKING:
    from croniter import croniter

_UTC = ZoneInfo("UTC")


class CronSchedule:
    """The ticks of one cron expression in one time zone. Raises ``ValueError`` (saying why) for an
    expression that is not one."""

    def __init__(self, expression: str, timezone: str | None = None) -> None:
        fields = expression.split()
        nickname = len(fields) == 1 and fields[0].startswith("@")
        if not nickname and len(fields) not in (5, 6):
            raise ValueError(
                f"{expression!r} has {len(fields)} field(s); a cron expression has 5 (minute hour day month "
                "weekday) or 6 (seconds first)"
            )
        self.expression = expression
        self._zone = ZoneInfo(timezone) if timezone else _UTC
        self._seconds = len(fields) == 6
        from croniter import CroniterError  # imported on first need: most processes have no cron trigger

        try:
            self._iter(0.0)
        except (CroniterError, ValueError, KeyError) as exc:
            raise ValueError(f"{expression!r} is not a cron expression: {exc}") from None

    @classmethod
    def of(cls, trigger: CronTrigger) -> CronSchedule:
        return cls(trigger.expression, trigger.timezone)

    def _iter(self, at: float) -> croniter:
        from croniter import croniter

        start = dt.datetime.fromtimestamp(at, self._zone)
        return croniter(self.expression, start, second_at_beginning=self._seconds)

    def next_after(self, at: float) -> float:
        """The first tick strictly after ``at``."""
        return float(self._iter(at).get_next(float))

    def latest_at_or_before(self, at: float) -> float:
        """The last tick at or before ``at``."""
        following = self.next_after(at)
        return float(self._iter(following).get_prev(float))


def trigger_errors(workflow: Workflow) -> list[str]:
    """What is wrong with a workflow's triggers beyond their shapes: cron expressions that are not, two
    triggers with one ``id``, two webhooks on one path."""
    errors: list[str] = []
    ids: set[str] = set()
    paths: set[str] = set()
    for index, trigger in enumerate(workflow.triggers):
        where = f"triggers[{index}]"
        if trigger.id is not None:
            if trigger.id in ids:
                errors.append(f'{where}.id: another trigger has the id "{trigger.id}"')
            ids.add(trigger.id)
        if trigger.kind == "cron":
            try:
                CronSchedule.of(trigger)
            except ValueError as exc:
                errors.append(f"{where}.expression: {exc}")
        elif trigger.kind == "webhook":
            if trigger.path in paths:
                errors.append(f'{where}.path: another webhook of this workflow listens on "{trigger.path}"')
            paths.add(trigger.path)
    return errors
