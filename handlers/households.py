"""Describe a household and its neighbour head for the person who lives there."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.speech import Voice
from models.address import address, place
from models.contact_card import heads_of_groups
from models.phone import readable
from models.registry import Building, Estate, Household


class BuildingNames:
    """Estate and building names by building, each read once for a batch of updates.

    Only the roster import renames a building, and it runs in its own transaction: within one
    batch's transaction the names cannot change under it.
    """

    def __init__(self) -> None:
        self._known: dict[int, tuple[str, str]] = {}

    async def of(self, session: AsyncSession, building_id: int) -> tuple[str, str]:
        if building_id not in self._known:
            estate, building = (await session.execute(_NAMES, {"building": building_id})).one()
            self._known[building_id] = (estate, building)
        return self._known[building_id]


async def household_label(
    session: AsyncSession, household: Household, names: BuildingNames | None = None
) -> str:
    """Write a household's address as residents do: 芙蓉花园1栋1单元101室."""
    estate, building = await (names or BuildingNames()).of(session, household.building_id)
    return address(estate, building, household.unit, household.room)


async def household_place(
    session: AsyncSession, household: Household, names: BuildingNames | None = None
) -> str:
    """The address within its estate, for those who work in it: 1栋1单元101室."""
    _, building = await (names or BuildingNames()).of(session, household.building_id)
    return place(building, household.unit, household.room)


async def building_label(
    session: AsyncSession, building_id: int, names: BuildingNames | None = None
) -> str:
    """A building as a resident names it: 芙蓉花园1栋."""
    estate, building = await (names or BuildingNames()).of(session, building_id)
    return f"{estate}{building}"


# Built once: a label is in most answers to a resident.
_NAMES = (
    select(Estate.name, Building.name)
    .join(Building, Building.estate_id == Estate.id)
    .where(Building.id == bindparam("building"))
)


# A group's serving head: their name and the phone they agreed to show (either may be None).
Head = tuple[str | None, str | None]


async def head_line(
    session: AsyncSession,
    household: Household,
    today: date,
    say: Voice,
    known: Mapping[int, Head | None] | None = None,
) -> str:
    """Name the household's neighbour head, with the phone they agreed to show, or say one is
    still to be elected. `known`: groups' heads already read (None: the group has none)."""
    group = household.neighbour_group_id
    if known is not None and group in known:
        head = known[group]
    else:
        head = (await heads_of_groups(session, {group}, today)).get(group)
    if head is None:
        return say("chat.head_none")
    name, phone = head
    name = name or say("chat.head_unnamed")
    if phone is None:
        return say("chat.head", name=name)
    return say("chat.head_with_phone", name=name, phone=readable(phone))
