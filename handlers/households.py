"""Describe a household and its neighbour head for the person who lives there."""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.speech import Voice
from models.address import address, place
from models.contact_card import heads_of_groups
from models.phone import readable
from models.registry import Building, Estate, Household


async def household_label(session: AsyncSession, household: Household) -> str:
    """Write a household's address as residents do: 芙蓉花园1栋1单元101室."""
    estate, building = await _names_of(session, household.building_id)
    return address(estate, building, household.unit, household.room)


async def household_place(session: AsyncSession, household: Household) -> str:
    """The address within its estate, for those who work in it: 1栋1单元101室."""
    _, building = await _names_of(session, household.building_id)
    return place(building, household.unit, household.room)


async def building_label(session: AsyncSession, building_id: int) -> str:
    """A building as a resident names it: 芙蓉花园1栋."""
    estate, building = await _names_of(session, building_id)
    return f"{estate}{building}"


async def _names_of(session: AsyncSession, building_id: int) -> tuple[str, str]:
    estate, building = (await session.execute(_NAMES, {"building": building_id})).one()
    return estate, building


# Built once: a label is in most answers to a resident.
_NAMES = (
    select(Estate.name, Building.name)
    .join(Building, Building.estate_id == Estate.id)
    .where(Building.id == bindparam("building"))
)


async def head_line(session: AsyncSession, household: Household, today: date, say: Voice) -> str:
    """Name the household's neighbour head, with the phone they agreed to show, or say one is
    still to be elected."""
    group = household.neighbour_group_id
    heads = await heads_of_groups(session, {group}, today)
    if group not in heads:
        return say("chat.head_none")
    name, phone = heads[group]
    name = name or say("chat.head_unnamed")
    if phone is None:
        return say("chat.head", name=name)
    return say("chat.head_with_phone", name=name, phone=readable(phone))
