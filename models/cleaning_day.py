"""A building's stairwell cleaning day (楼道卫生日): who joins (接龙), and whether it was held."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.person import Person
from models.problem import Problem


class Held(StrEnum):
    PLANNED = "planned"
    HELD = "held"
    NOT_HELD = "not_held"


class CleaningDay(Base):
    __tablename__ = "cleaning_day"
    __table_args__ = (Index("ix_cleaning_day_building_day", "building_id", "day", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=Held.PLANNED.value)
    # Telegram's file id of the head's photo, if they sent one.
    photo: Mapped[str | None] = mapped_column(String(200))
    marked_by: Mapped[int | None] = mapped_column(BigInteger)
    marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CleaningSignup(Base):
    __tablename__ = "cleaning_signup"

    cleaning_day_id: Mapped[int] = mapped_column(
        ForeignKey("cleaning_day.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def edit_key(day: CleaningDay) -> str:
    """The sign-up message, edited in place as people join."""
    return f"cleaning:{day.id}"


async def join(session: AsyncSession, day: CleaningDay, user_id: int) -> bool:
    """Sign a person up; False if they already were."""
    if await session.get(CleaningSignup, (day.id, user_id)) is not None:
        return False
    session.add(CleaningSignup(cleaning_day_id=day.id, user_id=user_id))
    await session.flush()
    audit(session, f"user:{user_id}", "cleaning.joined", "cleaning_day", day.id)
    return True


async def joined(session: AsyncSession, day_id: int) -> list[str | None]:
    """The names of those who joined, as each chose to show it, in the order they joined."""
    return list(
        await session.scalars(
            select(Person.display_name)
            .select_from(CleaningSignup)
            .join(Person, Person.user_id == CleaningSignup.user_id, isouter=True)
            .where(CleaningSignup.cleaning_day_id == day_id)
            .order_by(CleaningSignup.at, CleaningSignup.user_id)
        )
    )


async def mark(
    session: AsyncSession, day: CleaningDay, user_id: int, held: bool, photo: str | None = None
) -> None:
    """The head marks the day held (a photo optional) or not held, once."""
    if day.state != Held.PLANNED.value:
        raise Problem("cleaning.already_marked")
    before = day.state
    day.state = (Held.HELD if held else Held.NOT_HELD).value
    day.photo, day.marked_by, day.marked_at = photo, user_id, utcnow()
    audit(
        session,
        f"user:{user_id}",
        "cleaning.marked",
        "cleaning_day",
        day.id,
        before={"state": before},
        after={"state": day.state},
    )


async def add_photo(session: AsyncSession, day: CleaningDay, user_id: int, photo: str) -> None:
    """Keep the photo of a day held, sent by the head who marked it (a later one replaces it)."""
    if day.state != Held.HELD.value or day.marked_by != user_id:
        raise Problem("cleaning.no_photo_wanted")
    day.photo = photo
    audit(session, f"user:{user_id}", "cleaning.photo", "cleaning_day", day.id)
