"""The demo's simulated week: Monday's lists, a visit that files a request, Friday's nudge,
Saturday's cleaning day with sign-ups, and the secretary's summary the Monday after.

Each push is written the way the week's job writes it at its time (scheduler/week.py), for
days of the current week; the people then answer through the running bot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.events import Reply
from handlers.outgoing import enqueue
from handlers.request_cards import Desk
from models.registry import Estate
from models.schedule_rule import Week, week_of
from scheduler.week import cleaning_eve, visit_lists, visit_nudges, weekly_summaries
from texts import t

if TYPE_CHECKING:
    from bot.demo import Transcript

Builder = Callable[..., Awaitable[list[Reply]]]


async def week_walk_through(
    show: Transcript, zone: ZoneInfo, head: int, secretary: int, joiners: tuple[int, ...]
) -> None:
    desk = Desk(zone, show.language)
    # The week is played on today's date: the heads were appointed today, and a list made
    # for an earlier day would find none serving. Friday's pushes fall in the same week.
    today = datetime.now(zone).date()

    def at(days: int, hour: int) -> datetime:
        day = today + timedelta(days=days)
        return datetime(day.year, day.month, day.day, hour, tzinfo=zone)

    show.out(t("demo.week_monday", show.language))
    await _push(show, visit_lists, at(0, 8), desk)
    [listed] = await show.bot_answers()
    [recorded] = await show.press(head, listed, 0)
    # The five ones are ticked on the message (edited in place), then done, then the note.
    [ticked] = await show.press(head, recorded, 1)
    [ticked] = await show.press(head, ticked, 2)
    await show.press(head, ticked, 5)
    await show.say(head, "厨房水管渗水")
    [kinds] = await show.press(head, ticked, 6)
    await show.press(head, kinds, 0)
    [confirm] = await show.say(head, "厨房水管接口渗水，老人行动不便，请物业上门查看")
    await show.press(head, confirm, len(confirm.buttons()) - 2)

    show.out(t("demo.week_friday", show.language))
    await _push(show, visit_nudges, at(0, 17), desk)
    await show.bot_answers()
    await _push(show, cleaning_eve, at(0, 19), desk)
    [reminder] = await show.bot_answers()
    show.out(t("demo.week_saturday", show.language))
    for user in joiners:
        await show.press(user, reminder, 0)

    show.out(t("demo.week_summary", show.language))
    await _push(show, weekly_summaries, at(7, 9), desk)
    await show.bot_answers()


async def _push(show: Transcript, builder: Builder, due: datetime, desk: Desk) -> None:
    async with show.store.write() as session:
        estate = await session.scalar(select(Estate))
        assert estate is not None
        week: Week = await week_of(session, estate.id)
        enqueue(session, await builder(session, estate.id, due, week, desk), None)
