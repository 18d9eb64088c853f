"""Request deadlines: remind before, climb a level on breach. One routine for the job and tests."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.outgoing import enqueue
from handlers.request_cards import Desk, deadline_phrase, follow_up, notices
from handlers.speech import voice_of
from models.mediation import Mediation
from models.person import Person
from models.registry import Household
from models.request import CLOSED, DECIDING, Level, Request, State
from models.request_flow import Change, Clock, breach_many, estate_secretaries_many, who_handles
from models.store import Store
from models.workdays import WorkCalendar

log = logging.getLogger(__name__)

# How long before a deadline its handlers are reminded.
REMIND_BEFORE = timedelta(hours=4)
# Each batch is one write transaction; on SQLite the chat waits while it runs (~0.2 s).
BATCH = 200


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
    overdue = await _due(session, Request.deadline_at <= clock.now, sqlite)
    changes = await breach_many(session, overdue, clock)
    acting = await _deciding(session, changes, clock.today)
    # Held while the notices are written: the session keeps what it loaded only while it is used.
    loaded = await _preload(session, changes, acting)
    for change in changes:
        said = await notices(
            session, change, desk, clock.today, acting=acting.get(change.request.id)
        )
        enqueue(session, said, None)
    acted = len(changes)
    del loaded
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


async def _deciding(
    session: AsyncSession, changes: list[Change], today: date
) -> dict[int, list[int]]:
    """Who decides on each request that climbed to its branch (its estate's secretaries, as
    `deciders` reads them one by one), read for the batch at once."""
    climbed = [
        c.request
        for c in changes
        if State(c.request.state) in DECIDING and Level(c.request.level) is Level.BRANCH
    ]
    secretaries = await estate_secretaries_many(session, {r.estate_id for r in climbed}, today)
    return {r.id: secretaries[r.estate_id] for r in climbed}


async def _preload(
    session: AsyncSession, changes: list[Change], acting: dict[int, list[int]]
) -> list[object]:
    """Load the batch's households and people in two statements, so that the notices find them
    in the session instead of reading them one by one."""
    requests = [c.request for c in changes]
    people = {r.filed_by for r in requests} | {u for us in acting.values() for u in us}
    households = {r.household_id for r in requests}
    loaded: list[object] = []
    if people:
        loaded += await session.scalars(select(Person).where(Person.user_id.in_(people)))
    if households:
        loaded += await session.scalars(select(Household).where(Household.id.in_(households)))
    return loaded


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
