"""The weekly summary for a secretary (scheduled on Mondays, and in /queue), and who serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.request_cards import Desk
from handlers.speech import Voice
from models.advert_cleanup import cleaned_groups
from models.cleaning_day import CleaningDay, Held
from models.person import Person
from models.registry import Building, Household, NeighbourGroup
from models.request import CLOSED, Request
from models.role import RoleAssignment
from models.visit import Visit, VisitState

# A household not visited for longer than this is named in the secretary's summary.
STALE = timedelta(days=30)


@dataclass(frozen=True)
class Head:
    user_id: int
    group_id: int
    name: str
    estate_id: int = 0


async def heads_of(session: AsyncSession, estate_id: int, on: date) -> list[Head]:
    """The estate's serving neighbour heads, each with their group."""
    return await heads_of_many(session, [estate_id], on)


async def heads_of_many(session: AsyncSession, estate_ids: list[int], on: date) -> list[Head]:
    """The serving neighbour heads of several estates, each with their group, in one statement."""
    rows = await session.execute(
        select(
            RoleAssignment.user_id,
            RoleAssignment.scope_id,
            RoleAssignment.term_start,
            RoleAssignment.term_end,
            Person.display_name,
            Building.estate_id,
        )
        .join(NeighbourGroup, NeighbourGroup.id == RoleAssignment.scope_id)
        .join(Building, Building.id == NeighbourGroup.building_id)
        .join(Person, Person.user_id == RoleAssignment.user_id, isouter=True)
        .where(
            RoleAssignment.role == "neighbour_head",
            RoleAssignment.scope_kind == "group",
            RoleAssignment.revoked_at.is_(None),
            Building.estate_id.in_(estate_ids),
        )
        .order_by(RoleAssignment.scope_id)
    )
    return [
        Head(user, group, name or "", estate)
        for user, group, start, end, name, estate in rows
        if (start is None or start <= on) and (end is None or on < end)
    ]


async def secretaries_of(session: AsyncSession, estate_id: int) -> list[int]:
    return list(
        await session.scalars(
            select(RoleAssignment.user_id).where(
                RoleAssignment.role == "secretary",
                RoleAssignment.scope_kind == "estate",
                RoleAssignment.scope_id == estate_id,
                RoleAssignment.revoked_at.is_(None),
            )
        )
    )


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def summary_text(
    session: AsyncSession, estate_id: int, now: datetime, desk: Desk, say: Voice
) -> str:
    """The weekly summary: visits done/planned per head last week, stale households, requests."""
    today = now.astimezone(desk.zone).date()
    last_week = monday(today) - timedelta(weeks=1)
    heads = await heads_of(session, estate_id, today)
    counts: dict[int, list[int]] = {h.user_id: [0, 0] for h in heads}
    for head_id, state, n in await session.execute(
        select(Visit.head_user_id, Visit.state, func.count())
        .where(Visit.head_user_id.in_(list(counts)), Visit.week == last_week)
        .group_by(Visit.head_user_id, Visit.state)
    ):
        counts[head_id][1] += n
        if state == VisitState.VISITED.value:
            counts[head_id][0] += n
    lines = [
        say(
            "week.summary_head",
            name=h.name,
            done=counts[h.user_id][0],
            planned=counts[h.user_id][1],
        )
        for h in heads
    ]
    stale = await _stale(session, estate_id, now)
    open_requests = await session.scalar(
        select(func.count()).where(
            Request.estate_id == estate_id, Request.state.not_in([s.value for s in CLOSED])
        )
    )
    overdue = await session.scalar(
        select(func.count()).where(
            Request.estate_id == estate_id,
            Request.state.not_in([s.value for s in CLOSED]),
            Request.deadline_at < now,
        )
    )
    cleaning = {
        state: n
        for state, n in await session.execute(
            select(CleaningDay.state, func.count())
            .join(Building, Building.id == CleaningDay.building_id)
            .where(
                Building.estate_id == estate_id,
                CleaningDay.day >= last_week,
                CleaningDay.day < last_week + timedelta(weeks=1),
            )
            .group_by(CleaningDay.state)
        )
    }
    start = datetime.combine(last_week, time(0), desk.zone)
    adverts = await cleaned_groups(session, estate_id, start, start + timedelta(weeks=1))
    return say(
        "week.summary",
        adverts=adverts,
        held=cleaning.get(Held.HELD.value, 0),
        cleanings=sum(cleaning.values()),
        lines="\n".join(lines) or say("week.summary_no_heads"),
        stale=stale,
        open=open_requests or 0,
        overdue=overdue or 0,
    )


async def _stale(session: AsyncSession, estate_id: int, now: datetime) -> int:
    """Households of the estate not visited within the last month."""
    recent = (
        select(Visit.household_id)
        .where(Visit.state == VisitState.VISITED.value, Visit.done_at >= now - STALE)
        .scalar_subquery()
    )
    found = await session.scalar(
        select(func.count())
        .select_from(Household)
        .join(Building, Building.id == Household.building_id)
        .where(
            Building.estate_id == estate_id,
            Household.removed_at.is_(None),
            Household.id.not_in(recent),
        )
    )
    return int(found or 0)
