"""Describe a household and its neighbour head for the person who lives there."""

from __future__ import annotations

from datetime import date
from functools import partial

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.speech import Voice
from models.contact_card import heads_of_groups
from models.known import remember
from models.person import Person
from models.registry import Building, Estate, Household
from models.role import RoleAssignment
from models.roster_file import household_label as label_of


async def household_label(session: AsyncSession, household: Household) -> str:
    """Name a household as the roster does: 芙蓉花园/1栋/1单元/101."""
    estate, building = await remember(
        session,
        ("names", household.building_id),
        (Estate, Building),
        partial(_names, session, household.building_id),
    )
    return label_of(estate, building, household.unit, household.room)


async def _names(session: AsyncSession, building_id: int) -> tuple[str, str]:
    estate, building = (await session.execute(_NAMES, {"building": building_id})).one()
    return estate, building


# Built once: a label is in most answers to a resident.
_NAMES = (
    select(Estate.name, Building.name)
    .join(Building, Building.estate_id == Estate.id)
    .where(Building.id == bindparam("building"))
)


async def head_line(session: AsyncSession, household: Household, today: date, say: Voice) -> str:
    """Name the household's neighbour head, or say one is still to be elected."""
    group = household.neighbour_group_id
    # Neighbours of one group register together: their answers name the same head. A new
    # person is nobody's head until a role is assigned, which changes RoleAssignment.
    heads = await remember(
        session,
        ("heads", group, today),
        (RoleAssignment, Person),
        partial(heads_of_groups, session, {group}, today),
        grows=(Person,),
    )
    name, phone = heads.get(household.neighbour_group_id, (None, None))
    if name is None and phone is None:
        return say("chat.head_none")
    return say("chat.head", name=name or "", phone=phone or "")
