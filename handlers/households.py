"""Describe a household and its neighbour head for the person who lives there."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.speech import Voice
from models.contact_card import heads_of_groups
from models.registry import Building, Estate, Household


async def household_label(session: AsyncSession, household: Household) -> str:
    building = await session.get_one(Building, household.building_id)
    estate = await session.get_one(Estate, building.estate_id)
    parts = (estate.name, building.name, household.unit, household.room)
    return "/".join(part for part in parts if part)


async def head_line(session: AsyncSession, household: Household, today: date, say: Voice) -> str:
    """Name the household's neighbour head, or say one is still to be elected."""
    heads = await heads_of_groups(session, {household.neighbour_group_id}, today)
    name, phone = heads.get(household.neighbour_group_id, (None, None))
    if name is None and phone is None:
        return say("chat.head_none")
    return say("chat.head", name=name or "", phone=phone or "")
