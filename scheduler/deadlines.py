"""Request deadlines: remind before, climb a level on breach. One routine for the job and tests."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.outgoing import enqueue
from handlers.request_cards import Desk, deadline_phrase, follow_up, notices
from handlers.speech import voice_of
from models.mediation import Mediation
from models.request import CLOSED, Request
from models.request_flow import Clock, breach, who_handles
from models.store import Store
from models.workdays import WorkCalendar

log = logging.getLogger(__name__)

# How long before a deadline its handlers are reminded.
REMIND_BEFORE = timedelta(hours=4)
# Each batch is one write transaction; on SQLite the chat waits while it runs (~0.6 s).
BATCH = 50


async def check_deadlines(store: Store, desk: Desk, clock: Clock | None = None) -> int:
    """Remind, escalate and follow up everything due; return how many requests were acted on.

    Work goes in batches, one short transaction each, so a backlog (every deadline of the
    district falls at six in the evening) never holds the database long. A request acted on
    is not picked again in the same run: a breach moves its deadline past `now`, a reminder
    marks it reminded.
    """
    if clock is None:
        async with store.read() as session:
            clock = Clock(await WorkCalendar.load(session), desk.zone)
    acted = 0
    while True:
        async with store.write() as session:
            done, more = await _round(session, desk, clock, store.sqlite)
        acted += done
        if not more:
            break
    if acted:
        log.info("deadlines: %s requests reminded, escalated or followed up", acted)
    return acted


async def _round(session: AsyncSession, desk: Desk, clock: Clock, sqlite: bool) -> tuple[int, bool]:
    """One batch of each kind of work; return how many were done and whether more may wait."""
    acted = 0
    overdue = await _due(session, Request.deadline_at <= clock.now, sqlite)
    for request in overdue:
        change = await breach(session, request, clock)
        if change is not None:
            enqueue(session, await notices(session, change, desk, clock.today), None)
            acted += 1
    # A resolved request waits on the resident, who is asked once, not chased.
    soon = await _due(
        session,
        (Request.deadline_at > clock.now)
        & (Request.deadline_at <= clock.now + REMIND_BEFORE)
        & Request.reminded_at.is_(None)
        & (Request.deadline_step != "confirm"),
        sqlite,
    )
    for request in soon:
        request.reminded_at = clock.now
        enqueue(session, await _reminders(session, request, desk, clock), None)
        acted += 1
    followed = await _follow_ups(session, desk, clock)
    full = BATCH in (len(overdue), len(soon), followed)
    return acted + followed, full


async def _follow_ups(session: AsyncSession, desk: Desk, clock: Clock) -> int:
    """A week after a mediation agreement, ask both parties whether it holds."""
    due = await session.scalars(
        select(Mediation)
        .where(Mediation.follow_up_at <= clock.now, Mediation.follow_up_sent_at.is_(None))
        .limit(BATCH)
    )
    count = 0
    for mediation in list(due):
        mediation.follow_up_sent_at = clock.now
        enqueue(session, await follow_up(session, mediation, desk), None)
        count += 1
    return count


async def _due(session: AsyncSession, condition: Any, sqlite: bool) -> list[Request]:
    query = (
        select(Request)
        .where(condition, Request.state.not_in([s.value for s in CLOSED]))
        .order_by(Request.deadline_at)
        .limit(BATCH)
    )
    if not sqlite:
        # Several schedulers never act on one request twice; the others skip it.
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))


async def _reminders(
    session: AsyncSession, request: Request, desk: Desk, clock: Clock
) -> list[Reply]:
    people = await who_handles(session, request, clock.today)
    replies = []
    for user in people:
        say = await voice_of(session, user, desk.default_language)
        deadline = deadline_phrase(request, say, desk.zone)
        replies.append(
            Reply(user, say("req.remind", reference=request.reference, deadline=deadline))
        )
    return replies
