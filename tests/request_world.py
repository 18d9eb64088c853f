"""An estate with people in every role a request meets, for request tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.person import Person, Resident
from models.registry import Household
from models.role import Force, Grant, Role, grant_role
from models.scope import resolve_scope
from tests.registry_factory import make_estate

# Unit 1 of 1栋: rooms 101 (two residents) and 102; unit 2: room 101.
R1, R1B, R2, R3 = 1101, 1102, 1201, 1301
HEAD1, HEAD2 = 2101, 2201
SECRETARY, PROPERTY_A, PROPERTY_B, COMMUNITY_STAFF, STREET_STAFF = 6001, 6101, 6102, 7001, 8001
NAMES = {
    R1: "李秀英",
    R1B: "李建国",
    R2: "王芳",
    R3: "张伟",
    HEAD1: "陈邻长",
    HEAD2: "刘邻长",
    SECRETARY: "赵书记",
    PROPERTY_A: "物业小周",
    PROPERTY_B: "物业小吴",
    COMMUNITY_STAFF: "社区孙干事",
    STREET_STAFF: "街道钱干事",
}


@dataclass(frozen=True)
class World:
    estate_id: int
    households: dict[int, Household]  # by resident user id


async def build_world(session: AsyncSession, today: date) -> World:
    estate = await make_estate(session, units=("1单元", "2单元"), rooms=("101", "102"))
    rows = {
        (h.unit, h.room): h
        for h in await session.scalars(select(Household).where(Household.building_id.is_not(None)))
    }
    homes = {
        R1: rows[("1单元", "101")],
        R1B: rows[("1单元", "101")],
        R2: rows[("1单元", "102")],
        R3: rows[("2单元", "101")],
    }
    for user, name in NAMES.items():
        session.add(Person(user_id=user, display_name=name))
    await session.flush()
    for user, household in homes.items():
        session.add(Resident(household_id=household.id, user_id=user))
    grants = [
        (HEAD1, Role.NEIGHBOUR_HEAD, "group:芙蓉花园/1栋/1单元", None),
        (HEAD2, Role.NEIGHBOUR_HEAD, "group:芙蓉花园/1栋/2单元", None),
        (SECRETARY, Role.SECRETARY, "estate:芙蓉花园", None),
        (PROPERTY_A, Role.FORCE_MEMBER, "estate:芙蓉花园", Force.PROPERTY),
        (PROPERTY_B, Role.FORCE_MEMBER, "estate:芙蓉花园", Force.PROPERTY),
        (COMMUNITY_STAFF, Role.COMMUNITY_STAFF, "community:芙蓉社区", None),
        (STREET_STAFF, Role.STREET_STAFF, "street:月塘街道", None),
    ]
    for user, role, scope, force in grants:
        where = await resolve_scope(session, scope)
        await grant_role(
            session, Grant(user, role, where, force, term_start=date(2026, 1, 1)), "test", today
        )
    await session.flush()
    return World(estate.id, homes)
