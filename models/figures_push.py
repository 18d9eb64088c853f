"""The weekly figures sent to community and street staff: one push per unit and week, recorded
in the transaction that writes its messages, so a restart or a second process sends none twice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, insert_or_skip, utcnow


class FiguresPush(Base):
    __tablename__ = "figures_push"

    unit_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The Monday of the week reported.
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


async def claim_push(session: AsyncSession, unit_kind: str, unit_id: int, week: date) -> bool:
    """Record a unit's push for a week; False when another run already has (the key decides)."""
    statement = (
        insert_or_skip(session, FiguresPush)
        .values(unit_kind=unit_kind, unit_id=unit_id, week=week, sent_at=utcnow())
        .on_conflict_do_nothing()
        .returning(FiguresPush.week)
    )
    return (await session.execute(statement)).first() is not None
