"""Mediation of disputes (周一矛调): booked on the next Monday mediation day, outcome, follow-up."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import BigInteger, Date, ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime
from models.problem import Problem
from models.request import Request, RequestKind
from models.workdays import WorkCalendar

# Both parties are asked this long after an agreement whether it holds.
FOLLOW_UP_AFTER = timedelta(days=7)
MONDAY = 0


class Mediation(Base):
    __tablename__ = "mediation"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("request.id", ondelete="CASCADE"), unique=True
    )
    day: Mapped[date] = mapped_column(Date)
    mediator_user_id: Mapped[int] = mapped_column(BigInteger)
    # "agreed" or "failed" once recorded.
    outcome: Mapped[str | None] = mapped_column(String(16))
    agreement: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    follow_up_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Each party's answer to "does the agreement hold?"; None until they answer.
    holds_for_filer: Mapped[bool | None]
    holds_for_other: Mapped[bool | None]


def mediation_day(calendar: WorkCalendar, today: date) -> date:
    """The next Monday after today; a Monday off work moves to the next working day."""
    day = today + timedelta(days=(MONDAY - today.weekday()) % 7 or 7)
    return calendar.add_workdays(day, 0)


async def book(
    session: AsyncSession,
    request: Request,
    mediator: int,
    calendar: WorkCalendar,
    today: date,
) -> Mediation:
    """Book a dispute into the next mediation day with its handler as mediator."""
    if request.kind != RequestKind.DISPUTE.value:
        raise Problem("request.not_a_dispute")
    found = await mediation_of(session, request.id)
    day = mediation_day(calendar, today)
    if found is None:
        found = Mediation(request_id=request.id, day=day, mediator_user_id=mediator)
        session.add(found)
    else:
        found.day, found.mediator_user_id, found.outcome = day, mediator, None
    await session.flush()
    audit(
        session,
        f"user:{mediator}",
        "mediation.book",
        "request",
        request.reference,
        after={"day": day.isoformat(), "mediator": mediator},
    )
    return found


async def mediation_of(session: AsyncSession, request_id: int) -> Mediation | None:
    return await session.scalar(select(Mediation).where(Mediation.request_id == request_id))


def record(mediation: Mediation, agreement: str | None, now: datetime) -> None:
    """The outcome: an agreement (followed up in a week) or none."""
    mediation.outcome = "agreed" if agreement else "failed"
    mediation.agreement = agreement
    mediation.recorded_at = now
    mediation.follow_up_at = now + FOLLOW_UP_AFTER if agreement else None
