"""Whole-run attempts: a workflow whose ``settings.run_attempts`` is above 1 (flowengine's
``RetryWorkflow``) starts over when it fails, in the same run, with fresh node records."""

from __future__ import annotations

import time
from collections.abc import Callable

from flowloom.ir import RunRetrying

from ._bus import RunEvents
from ._run import Run
from ._scheduler import Restored, RunDriver


async def run_attempts(
    run: Run, driver: RunDriver, driver_for: Callable[[Restored | None], RunDriver], events: RunEvents
) -> RunDriver:
    """Run ``driver``; while the run fails as a whole and its workflow allows more ``run_attempts``, start
    it over (``RunRetrying``) with a new driver and fresh node records. Returns the last driver."""
    most = driver.compiled.settings.run_attempts
    for attempt in range(1, most + 1):
        await driver.run()
        if not driver.failed or driver.parked or run.cancel_requested or attempt == most:
            break
        records = run.records
        events.publish(
            RunRetrying(
                run_id=records.run_id,
                at=time.time(),
                attempt=attempt,
                max_attempts=most,
                error=records.first_error,
            )
        )
        records.start_over()
        driver = driver_for(None)
    return driver
