"""The figures the district reports, counted from the requests themselves."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.person import Resident
from models.registry import Building, Community, Estate, Household
from models.request import Request, RequestKind, State
from models.scope import Scope, ScopeKind

SETTLED = (State.RESOLVED.value, State.CONFIRMED.value)


@dataclass(frozen=True)
class Counters:
    opinions_collected: int
    disputes_mediated: int
    services_resolved: int
    households_linked: int = 0


async def counters(session: AsyncSession, estate_ids: list[int] | None = None) -> Counters:
    """Count opinions collected (all filed), disputes mediated and services resolved."""
    query = select(Request.kind, Request.state, func.count()).group_by(Request.kind, Request.state)
    if estate_ids is not None:
        query = query.where(Request.estate_id.in_(estate_ids))
    tally: dict[tuple[str, str], int] = {(k, s): n for k, s, n in await session.execute(query)}

    def settled(kind: RequestKind) -> int:
        return sum(n for (k, s), n in tally.items() if k == kind.value and s in SETTLED)

    opinions = sum(n for (k, s), n in tally.items() if k == RequestKind.OPINION.value)
    linked = (
        select(func.count(func.distinct(Resident.household_id)))
        .join(Household, Household.id == Resident.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(Resident.unbound_at.is_(None))
    )
    if estate_ids is not None:
        linked = linked.where(Building.estate_id.in_(estate_ids))
    households = int(await session.scalar(linked) or 0)
    return Counters(
        opinions, settled(RequestKind.DISPUTE), settled(RequestKind.SERVICE), households
    )


async def estates_in(session: AsyncSession, scope: Scope) -> list[int] | None:
    """The estates a scope covers; None for the whole district."""
    if scope.kind is ScopeKind.ESTATE:
        return [scope.id]
    if scope.kind is ScopeKind.COMMUNITY:
        return list(await session.scalars(select(Estate.id).where(Estate.community_id == scope.id)))
    if scope.kind is ScopeKind.STREET:
        return list(
            await session.scalars(
                select(Estate.id)
                .join(Community, Community.id == Estate.community_id)
                .where(Community.street_id == scope.id)
            )
        )
    return None
