"""The figures the district reports, counted from the requests themselves."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.request import Request, RequestKind, State

SETTLED = (State.RESOLVED.value, State.CONFIRMED.value)


@dataclass(frozen=True)
class Counters:
    opinions_collected: int
    disputes_mediated: int
    services_resolved: int


async def counters(session: AsyncSession, estate_ids: list[int] | None = None) -> Counters:
    """Count opinions collected (all filed), disputes mediated and services resolved."""
    query = select(Request.kind, Request.state, func.count()).group_by(Request.kind, Request.state)
    if estate_ids is not None:
        query = query.where(Request.estate_id.in_(estate_ids))
    tally: dict[tuple[str, str], int] = {(k, s): n for k, s, n in await session.execute(query)}

    def settled(kind: RequestKind) -> int:
        return sum(n for (k, s), n in tally.items() if k == kind.value and s in SETTLED)

    opinions = sum(n for (k, s), n in tally.items() if k == RequestKind.OPINION.value)
    return Counters(opinions, settled(RequestKind.DISPUTE), settled(RequestKind.SERVICE))
