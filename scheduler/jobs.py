"""The scheduled jobs of a running bot, on APScheduler in the bot's own event loop."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.election_words import Speaker
from handlers.request_cards import Desk
from models.base import utcnow
from models.store import Store
from scheduler.deadlines import check_deadlines
from scheduler.elections import run_elections
from scheduler.figures_week import push_weekly_figures
from scheduler.retention import erase_departed

DEADLINE_CHECK_SECONDS = 60
ELECTION_CHECK_SECONDS = 60


def start_jobs(
    store: Store, desk: Desk, retention: timedelta = timedelta(days=180)
) -> AsyncIOScheduler:
    """Start the jobs; the caller shuts the scheduler down when the bot stops."""
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


async def _erase_departed(store: Store, retention: timedelta) -> None:
    await erase_departed(store, retention, utcnow())


async def _push_weekly_figures(store: Store, desk: Desk) -> None:
    await push_weekly_figures(store, desk, utcnow())
