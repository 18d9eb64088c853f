"""Clearing illegal adverts (清理牛皮癣): a head says their group's stairwells are done.

The audit entry is the record: nothing else depends on it but the secretary's weekly count.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AuditEntry, audit
from models.problem import Problem
from models.registry import Building, NeighbourGroup
from models.role import Role, live_assignments

ACTION = "advert.cleaned"


async def record_cleanup(
    session: AsyncSession, group_id: int, user_id: int, prompted: str, today: date
) -> None:
    """Record that a head cleared their group's adverts after the prompt of `prompted`."""
    held = await live_assignments(session, user_id=user_id, on=today)
    if not any(
        a.role == Role.NEIGHBOUR_HEAD.value and a.scope_kind == "group" and a.scope_id == group_id
        for a in held
    ):
        raise Problem("advert.not_yours")
    audit(
        session,
        f"user:{user_id}",
        ACTION,
        "neighbour_group",
        group_id,
        after={"prompted": prompted},
    )


async def cleaned_groups(
    session: AsyncSession, estate_id: int, since: datetime, until: datetime
) -> int:
    """How many of an estate's groups had their adverts cleared in [since, until)."""
    groups = (
        select(cast(NeighbourGroup.id, String))
        .join(Building, Building.id == NeighbourGroup.building_id)
        .where(Building.estate_id == estate_id)
    )
    found = await session.scalar(
        select(func.count(AuditEntry.entity_id.distinct())).where(
            AuditEntry.action == ACTION,
            AuditEntry.entity == "neighbour_group",
            AuditEntry.entity_id.in_(groups),
            AuditEntry.at >= since,
            AuditEntry.at < until,
        )
    )
    return int(found or 0)
