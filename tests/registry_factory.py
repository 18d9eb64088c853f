"""Build a small registry directly in the database for tests that need one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.registry import Branch, Building, Community, Estate, Household, NeighbourGroup, Street


async def make_estate(
    session: AsyncSession,
    *,
    street: str = "月塘街道",
    community: str = "芙蓉社区",
    estate: str = "芙蓉花园",
    buildings: tuple[str, ...] = ("1栋",),
    units: tuple[str, ...] = ("1单元",),
    rooms: tuple[str, ...] = ("101", "102"),
) -> Estate:
    """Create street, community, estate with branch, buildings, groups and households."""
    street_row = await session.scalar(select(Street).where(Street.name == street))
    street_row = street_row or Street(name=street)
    community_row = (
        await session.scalar(
            select(Community).where(Community.name == community, Community.street == street_row)
        )
        if street_row.id
        else None
    )
    community_row = community_row or Community(street=street_row, name=community)
    estate_row = Estate(community=community_row, name=estate)
    session.add_all(
        [street_row, community_row, estate_row, Branch(estate=estate_row, name=f"{estate}党支部")]
    )
    for building_name in buildings:
        building = Building(estate=estate_row, name=building_name)
        session.add(building)
        for unit in units:
            group = NeighbourGroup(building=building, name=unit)
            session.add(group)
            for room in rooms:
                session.add(
                    Household(building=building, neighbour_group=group, unit=unit, room=room)
                )
    await session.flush()
    return estate_row
