"""Scopes such as `estate:芙蓉花园` or `group:芙蓉花园/1栋/1单元`: parse, resolve, label."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.address import address
from models.problem import Problem
from models.registry import Building, Community, Estate, Household, NeighbourGroup, Street

T = TypeVar("T", Estate, Community)


class ScopeKind(StrEnum):
    STREET = "street"
    COMMUNITY = "community"
    ESTATE = "estate"
    BUILDING = "building"
    GROUP = "group"


# How many path parts each kind takes, before an optional qualifier in front.
_PARTS = {
    ScopeKind.STREET: 1,
    ScopeKind.COMMUNITY: 1,
    ScopeKind.ESTATE: 1,
    ScopeKind.BUILDING: 2,
    ScopeKind.GROUP: 3,
}


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    id: int
    label: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}"

    @property
    def spoken(self) -> str:
        """The unit as people write it, without the command line's slashes: 芙蓉花园1栋1单元."""
        return self.label.replace("/", "")


def split_scope(text: str) -> tuple[ScopeKind, str | None, list[str]]:
    """Split `kind:[qualifier/]a/b` into the kind, the qualifier and the parts."""
    kind_text, sep, path = text.partition(":")
    try:
        kind = ScopeKind(kind_text.strip().lower())
    except ValueError:
        kinds = ", ".join(k.value for k in ScopeKind)
        raise Problem("scope.bad_kind", scope=text, kinds=kinds) from None
    parts = [p.strip() for p in path.split("/")] if sep else []
    need = _PARTS[kind]
    if not parts or any(not p for p in parts) or len(parts) not in (need, need + 1):
        raise Problem("scope.bad_form", scope=text)
    if kind is ScopeKind.STREET and len(parts) > need:
        raise Problem("scope.bad_form", scope=text)
    qualifier = parts[0] if len(parts) > need else None
    return kind, qualifier, parts[-need:]


async def resolve_scope(session: AsyncSession, text: str) -> Scope:
    """Find the unit a scope names; refuse unknown or ambiguous names with a reason."""
    kind, qualifier, parts = split_scope(text)
    if kind is ScopeKind.STREET:
        street = await session.scalar(select(Street).where(Street.name == parts[0]))
        if street is None:
            raise Problem("scope.unknown", scope=text)
        return Scope(kind, street.id, street.name)
    if kind is ScopeKind.COMMUNITY:
        query = select(Community).where(Community.name == parts[0])
        if qualifier is not None:
            query = query.join(Street).where(Street.name == qualifier)
        community = await _one(session, query, text, parent_of_community)
        return Scope(kind, community.id, _label(qualifier, parts))
    estate = await find_estate(session, parts[0], qualifier, text)
    if kind is ScopeKind.ESTATE:
        return Scope(kind, estate.id, _label(qualifier, parts))
    building = await session.scalar(
        select(Building).where(Building.estate_id == estate.id, Building.name == parts[1])
    )
    if building is None:
        raise Problem("scope.unknown", scope=text)
    if kind is ScopeKind.BUILDING:
        return Scope(kind, building.id, _label(qualifier, parts))
    group = await session.scalar(
        select(NeighbourGroup).where(
            NeighbourGroup.building_id == building.id, NeighbourGroup.name == parts[2]
        )
    )
    if group is None:
        raise Problem("scope.unknown", scope=text)
    return Scope(kind, group.id, _label(qualifier, parts))


async def find_estate(
    session: AsyncSession, name: str, community: str | None, scope_text: str | None = None
) -> Estate:
    """Find an estate by name, qualified by its community when the name is not unique."""
    query = select(Estate).where(Estate.name == name)
    if community is not None:
        query = query.join(Community).where(Community.name == community)
    return await _one(session, query, scope_text or f"estate:{name}", parent_of_estate)


async def parent_of_estate(session: AsyncSession, estate: Estate) -> str:
    community = await session.get_one(Community, estate.community_id)
    return community.name


async def parent_of_community(session: AsyncSession, community: Community) -> str:
    street = await session.get_one(Street, community.street_id)
    return street.name


async def _one(
    session: AsyncSession,
    query: Select[T],
    text: str,
    parent: Callable[[AsyncSession, T], Awaitable[str]],
) -> T:
    found = list((await session.scalars(query)).all())
    if not found:
        raise Problem("scope.unknown", scope=text)
    if len(found) > 1:
        parents = [await parent(session, row) for row in found]
        raise Problem("scope.ambiguous", scope=text, choices="、".join(sorted(parents)))
    return found[0]


def _label(qualifier: str | None, parts: list[str]) -> str:
    return "/".join(([qualifier] if qualifier else []) + parts)


async def describe_scope(session: AsyncSession, kind: ScopeKind, scope_id: int) -> Scope:
    """Name a stored scope the way an operator would type it."""
    if kind is ScopeKind.STREET:
        return Scope(kind, scope_id, (await session.get_one(Street, scope_id)).name)
    if kind is ScopeKind.COMMUNITY:
        return Scope(kind, scope_id, (await session.get_one(Community, scope_id)).name)
    if kind is ScopeKind.ESTATE:
        return Scope(kind, scope_id, (await session.get_one(Estate, scope_id)).name)
    if kind is ScopeKind.BUILDING:
        building = await session.get_one(Building, scope_id)
        estate = await session.get_one(Estate, building.estate_id)
        return Scope(kind, scope_id, f"{estate.name}/{building.name}")
    group = await session.get_one(NeighbourGroup, scope_id)
    building = await session.get_one(Building, group.building_id)
    estate = await session.get_one(Estate, building.estate_id)
    return Scope(kind, scope_id, f"{estate.name}/{building.name}/{group.name}")


@dataclass(frozen=True)
class GroupPlace:
    """Where a neighbour group is: its scope (named as `describe_scope` names it), building
    and estate."""

    scope: Scope
    building_id: int
    estate_id: int


async def place_groups(session: AsyncSession, group_ids: Collection[int]) -> dict[int, GroupPlace]:
    """Name several neighbour groups and say where they are, in one statement."""
    if not group_ids:
        return {}
    rows = await session.execute(
        select(NeighbourGroup.id, NeighbourGroup.name, Building.id, Building.name)
        .add_columns(Estate.id, Estate.name)
        .join(Building, Building.id == NeighbourGroup.building_id)
        .join(Estate, Estate.id == Building.estate_id)
        .where(NeighbourGroup.id.in_(sorted(group_ids)))
    )
    return {
        group: GroupPlace(
            Scope(ScopeKind.GROUP, group, f"{estate_name}/{building_name}/{group_name}"),
            building,
            estate,
        )
        for group, group_name, building, building_name, estate, estate_name in rows
    }


async def resolve_household(
    session: AsyncSession, estate: str, building: str, unit: str, room: str
) -> Household:
    """Find a household on the roster by estate (qualified as 社区/小区 if need be), building,
    unit (empty when the building has none) and room."""
    community, _, estate_name = estate.rpartition("/")
    found = await find_estate(session, estate_name, community or None, f"estate:{estate}")
    household = await session.scalar(
        select(Household)
        .join(Building, Building.id == Household.building_id)
        .where(
            Building.estate_id == found.id,
            Building.name == building,
            Household.unit == unit,
            Household.room == room,
            Household.removed_at.is_(None),
        )
    )
    if household is None:
        raise Problem(
            "scope.unknown_household", household=address(estate_name, building, unit, room)
        )
    return household
