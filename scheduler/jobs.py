"""The scheduled jobs of a running bot, on APScheduler in the bot's own event loop."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.request_cards import Desk
from models.store import Store
from scheduler.deadlines import check_deadlines
from scheduler.week import GRACE, fire_due

DEADLINE_CHECK_SECONDS = 60
# The week's rules fire at whole minutes; each pass fires what fell since the last one.
WEEK_CHECK_SECONDS = 60


def start_jobs(store: Store, desk: Desk, grace: timedelta = GRACE) -> AsyncIOScheduler:
    """Start the jobs; the caller shuts the scheduler down when the bot stops.

    Only the scheduling leader (bot/runtime.py) calls this. The week's job runs at once on
    start, so what fell due while no process ran is sent within the grace window.
    """
    scheduler = AsyncIOScheduler(timezone=desk.zone)
    scheduler.add_job(
        check_deadlines,
        "interval",
        seconds=DEADLINE_CHECK_SECONDS,
        args=(store, desk),
        id="deadlines",
        # A run that is late (the loop was busy) runs once, not once per missed minute.
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        _fire_week,
        "interval",
        seconds=WEEK_CHECK_SECONDS,
        args=(store, desk, grace),
        id="week",
        next_run_time=datetime.now(desk.zone),
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler


async def _fire_week(store: Store, desk: Desk, grace: timedelta) -> None:
    await fire_due(store, desk, grace=grace)
