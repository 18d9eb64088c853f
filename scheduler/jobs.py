"""The scheduled jobs of a running bot, on APScheduler in the bot's own event loop."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.election_words import Speaker
from handlers.request_cards import Desk
from models.base import utcnow
from models.store import Store
from scheduler.deadlines import check_deadlines
from scheduler.elections import run_elections
from scheduler.figures_week import push_weekly_figures
from scheduler.retention import erase_departed
from scheduler.week import GRACE, fire_due

DEADLINE_CHECK_SECONDS = 60
# Every few seconds: an election every household has voted in is closed by this job, and its
# result should follow the last vote closely. Mostly it finds nothing, in three indexed reads.
ELECTION_CHECK_SECONDS = 2
# The week's rules fire at whole minutes; each pass fires what fell since the last one.
WEEK_CHECK_SECONDS = 60


def start_jobs(
    store: Store,
    desk: Desk,
    grace: timedelta = GRACE,
    retention: timedelta = timedelta(days=180),
) -> AsyncIOScheduler:
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
        run_elections,
        "interval",
        seconds=ELECTION_CHECK_SECONDS,
        args=(store, Speaker(desk.zone, desk.default_language)),
        id="elections",
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
    scheduler.add_job(
        _push_weekly_figures,
        "cron",
        minute=5,
        args=(store, desk),
        id="weekly_figures",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        _erase_departed,
        "cron",
        hour=3,
        args=(store, retention),
        id="retention",
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler


async def _fire_week(store: Store, desk: Desk, grace: timedelta) -> None:
    await fire_due(store, desk, grace=grace)


async def _push_weekly_figures(store: Store, desk: Desk) -> None:
    await push_weekly_figures(store, desk, utcnow())


async def _erase_departed(store: Store, retention: timedelta) -> None:
    await erase_departed(store, retention, utcnow())
