"""What an estate sets for itself: where and when its Monday mediation day is held."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from sqlalchemy import ForeignKey, String, Time, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base
from models.problem import Problem

# The practice's Monday mediation day (周一矛调) starts in the morning unless an estate says.
MEDIATION_TIME = time(9, 0)
LONGEST_PLACE = 64


class EstateSettings(Base):
    __tablename__ = "estate_settings"

    estate_id: Mapped[int] = mapped_column(
        ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True
    )
    # None: the catalogue's default place (the estate's party-and-people service station).
    mediation_place: Mapped[str | None] = mapped_column(String(LONGEST_PLACE))
    mediation_time: Mapped[time | None] = mapped_column(Time)


@dataclass(frozen=True)
class MediationVenue:
    """Where and when the estate mediates; place None means the default place."""

    place: str | None
    at: time


async def mediation_venue(session: AsyncSession, estate_id: int) -> MediationVenue:
    found = await session.get(EstateSettings, estate_id)
    if found is None:
        return MediationVenue(None, MEDIATION_TIME)
    return MediationVenue(found.mediation_place, found.mediation_time or MEDIATION_TIME)


async def mediation_venues(
    session: AsyncSession, estate_ids: Sequence[int]
) -> dict[int, MediationVenue]:
    """Several estates' venues in one statement (the district's Monday reminders)."""
    found = {
        e: MediationVenue(place, at or MEDIATION_TIME)
        for e, place, at in await session.execute(
            select(
                EstateSettings.estate_id,
                EstateSettings.mediation_place,
                EstateSettings.mediation_time,
            ).where(EstateSettings.estate_id.in_(estate_ids))
        )
    }
    return {e: found.get(e, MediationVenue(None, MEDIATION_TIME)) for e in estate_ids}


async def set_mediation_venue(
    session: AsyncSession, estate_id: int, place: str | None, at: time | None, actor: str
) -> None:
    """Change the estate's mediation place or time; None leaves a value as it is."""
    if place is not None and not 0 < len(place.strip()) <= LONGEST_PLACE:
        raise Problem("estate.bad_place", limit=LONGEST_PLACE)
    found = await session.get(EstateSettings, estate_id)
    if found is None:
        found = EstateSettings(estate_id=estate_id)
        session.add(found)
    before = {"place": found.mediation_place, "time": _iso(found.mediation_time)}
    if place is not None:
        found.mediation_place = place.strip()
    if at is not None:
        found.mediation_time = at
    after = {"place": found.mediation_place, "time": _iso(found.mediation_time)}
    audit(session, actor, "estate.mediation_venue", "estate", estate_id, before=before, after=after)


def _iso(value: time | None) -> str | None:
    return value.isoformat(timespec="minutes") if value else None
