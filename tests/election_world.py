"""A building with two neighbour groups of six households, residents in each, for elections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.election import (
    Candidate,
    Circle,
    Election,
    Source,
    confirm_list,
    nominate,
    open_elections,
)
from models.person import Person, Resident
from models.registry import Household
from models.role import Grant, Role, grant_role
from models.scope import resolve_scope
from models.store import Store
from tests.registry_factory import make_estate

ZONE = ZoneInfo("Asia/Shanghai")
# A Monday morning in Zhuzhou; voting ends two working days later at 18:00.
NOW = datetime(2026, 9, 14, 10, 0, tzinfo=ZONE)
TODAY = date(2026, 9, 14)
ROOMS = ("101", "102", "201", "202", "301", "302")
SECRETARY, TELLER_A, TELLER_B, STRANGER = 6001, 6201, 6202, 9999
GROUP = "group:芙蓉花园/1栋/1单元"


def resident(unit: int, room: str, member: int = 1) -> int:
    """The user id of a household's member: 1单元101室's first member is 110101."""
    return unit * 100000 + int(room) * 100 + member


@dataclass
class World:
    households: dict[tuple[int, str], int]  # (unit, room) → household id
    group_ids: dict[int, int]  # unit → neighbour group id


async def build(session: AsyncSession, members: int = 1) -> World:
    await make_estate(session, units=("1单元", "2单元"), rooms=ROOMS)
    households: dict[tuple[int, str], int] = {}
    groups: dict[int, int] = {}
    for row in await session.scalars(select(Household)):
        unit = int(row.unit[0])
        households[(unit, row.room)] = row.id
        groups[unit] = row.neighbour_group_id
    for (unit, room), household in households.items():
        for member in range(1, members + 1):
            user = resident(unit, room, member)
            name = f"居民{unit}{room}" + (f"之{member}" if member > 1 else "")
            session.add(Person(user_id=user, display_name=name))
            await session.flush()
            session.add(Resident(household_id=household, user_id=user))
    for user, role, scope in (
        (SECRETARY, Role.SECRETARY, "estate:芙蓉花园"),
        (TELLER_A, Role.TELLER, "estate:芙蓉花园"),
        (TELLER_B, Role.TELLER, "estate:芙蓉花园"),
    ):
        where = await resolve_scope(session, scope)
        await grant_role(session, Grant(user, role, where, display_name=f"员{user}"), "test", TODAY)
    await session.flush()
    return World(households, groups)


async def world(store: Store, members: int = 1) -> World:
    async with store.write() as session:
        return await build(session, members)


async def voting(
    store: Store, candidates: int = 2, unit: int = 1, now: datetime = NOW
) -> tuple[int, list[str]]:
    """Open the group's election, nominate candidates (self), confirm: (election id, choices)."""
    async with store.write() as session:
        scope = await resolve_scope(session, f"group:芙蓉花园/1栋/{unit}单元")
        [election] = await open_elections(session, scope, f"user:{SECRETARY}", now, ZONE)
        chosen = []
        for room in ROOMS[:candidates]:
            user = resident(unit, room)
            candidate = await nominate(
                session,
                election,
                user,
                f"居民{unit}{room}",
                Circle.VOLUNTEER,
                "愿为邻里服务",
                Source.SELF,
                user,
            )
            chosen.append(str(candidate.id))
        await confirm_list(session, election, f"user:{SECRETARY}", now, ZONE)
        return election.id, chosen


async def load(store: Store, election_id: int) -> Election:
    async with store.read() as session:
        return await session.get_one(Election, election_id)


async def candidate(store: Store, candidate_id: str) -> Candidate:
    async with store.read() as session:
        return await session.get_one(Candidate, int(candidate_id))
