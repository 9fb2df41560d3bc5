"""The cron service ``flowloom serve`` runs: starts saved workflows at the ticks of their cron triggers.

Exactly once among servers: before starting a run for a tick, the server claims (workflow, trigger, tick) in
the store (``RunStore.claim_trigger_fire``); only the server whose claim is stored starts it. Every server
computes the same ticks from the expression, so whichever comes first fires each one.

Missed ticks fire once: the store knows each trigger's newest fired tick. When the next tick after it is
already past (no server ran, or this one was held up), the latest past tick fires, once, and the schedule
goes on from now. A trigger that never fired counts from when its workflow was saved. A run whose claim was
stored but whose process died before starting it is not started again (at most once per tick)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from flowloom.engine import CronSchedule, FlowloomError
from flowloom.ir import CronTrigger, RunStore, TriggerFire

from ._registry import RunRegistry
from ._trigger_book import SavedTrigger, TriggerBook, iso

logger = logging.getLogger("flowloom.server")

REFRESH_S = 1.0  # how often saved workflows are read again (new, changed or deleted triggers)
PRUNE_EVERY_S = 3600.0
KEEP_FIRES_S = 7 * 24 * 3600.0  # claims kept this long (each trigger's newest always)


@dataclass(slots=True)
class _Scheduled:
    saved: SavedTrigger
    trigger: CronTrigger
    schedule: CronSchedule
    next_tick: float


class CronService:
    """Fires the cron triggers of the saved workflows in ``store`` through ``registry``."""

    def __init__(
        self,
        registry: RunRegistry,
        store: RunStore,
        book: TriggerBook,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._store = store
        self._book = book
        self._clock = clock
        self._scheduled: dict[tuple[str, str], _Scheduled] = {}
        self._pruned_at = 0.0

    async def run(self) -> None:
        """Fire due ticks until cancelled. A store error is logged and tried again at the next pass."""
        while True:
            try:
                await self.pass_once()
            except FlowloomError as exc:
                logger.error("cron triggers: %s", exc)
            now = self._clock()
            wake = min([now + REFRESH_S, *(s.next_tick for s in self._scheduled.values())])
            await anyio.sleep(max(wake - now, 0.0))

    async def pass_once(self) -> None:
        """Read the triggers again and fire each that is due."""
        saved = [s for s in await self._book.triggers() if s.trigger.kind == "cron" and s.trigger.enabled]
        last = await self._store.last_trigger_fires()
        now = self._clock()
        current: dict[tuple[str, str], _Scheduled] = {}
        for trigger in saved:
            ident = (trigger.workflow_id, trigger.key)
            current[ident] = self._schedule(trigger, self._scheduled.get(ident), last.get(ident))
        self._scheduled = current
        for entry in current.values():
            if entry.next_tick <= now:
                tick = entry.schedule.latest_at_or_before(now)  # missed ticks fire once, as the latest
                await self._fire(entry, tick)
                entry.next_tick = entry.schedule.next_after(max(tick, now))
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            await self._store.prune_trigger_fires(now - KEEP_FIRES_S)

    def _schedule(
        self, saved: SavedTrigger, known: _Scheduled | None, last_fired: float | None
    ) -> _Scheduled:
        trigger = saved.trigger
        assert isinstance(trigger, CronTrigger)
        if known is not None and known.trigger == trigger:
            known.saved = saved
            if last_fired is not None and last_fired >= known.next_tick:  # another server fired it
                known.next_tick = known.schedule.next_after(last_fired)
            return known
        schedule = CronSchedule.of(trigger)
        baseline = last_fired if last_fired is not None else saved.saved_at
        return _Scheduled(saved, trigger, schedule, schedule.next_after(baseline))

    async def _fire(self, entry: _Scheduled, tick: float) -> None:
        saved = entry.saved
        run_id = str(uuid.uuid4())
        fire = TriggerFire(
            workflow_id=saved.workflow_id,
            trigger_key=saved.key,
            tick=tick,
            run_id=run_id,
            fired_at=self._clock(),
        )
        if not await self._store.claim_trigger_fire(fire):
            return  # another server fired this tick
        metadata = saved.metadata(expression=entry.trigger.expression, tick=tick, tick_at=iso(tick))
        run = self._registry.start(saved.compiled, entry.trigger.inputs, run_id=run_id, metadata=metadata)
        logger.info(
            "cron trigger %s/%s fired for %s: run %s", saved.workflow_id, saved.key, iso(tick), run.id
        )
