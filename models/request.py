"""Requests (诉求): what residents file, and the followers who said "me too"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from models.base import Base, UTCDateTime, utcnow
from models.registry import Estate, estate_prefix


class RequestKind(StrEnum):
    OPINION = "opinion"  # 社情民意
    DISPUTE = "dispute"  # 矛盾纠纷
    SERVICE = "service"  # 服务事项


class Level(StrEnum):
    """The rungs of the ladder: 小事不出社区，大事不出街道."""

    HEAD = "head"
    BRANCH = "branch"
    COMMUNITY = "community"
    STREET = "street"


LADDER = (Level.HEAD, Level.BRANCH, Level.COMMUNITY, Level.STREET)


class State(StrEnum):
    SUBMITTED = "submitted"  # waiting for its handler to sign
    SIGNED = "signed"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # waiting for the resident's return visit answer
    CONFIRMED = "confirmed"  # closed, rated or not
    ESCALATED = "escalated"  # waiting for a decision at its level
    RETURNED = "returned"  # "not ours": waiting for the branch to decide
    WITHDRAWN = "withdrawn"
    REOPENED = "reopened"  # the resident was not satisfied; same handler again


CLOSED = (State.CONFIRMED, State.WITHDRAWN)
# What the handler of the day works on, and what waits for a decision above.
WORKING = (State.SUBMITTED, State.SIGNED, State.IN_PROGRESS, State.REOPENED)
DECIDING = (State.ESCALATED, State.RETURNED)


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    FAIRLY = "fairly"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Request(Base):
    __tablename__ = "request"
    __table_args__ = (
        Index("ix_request_open", "estate_id", "state"),
        Index("ix_request_deadline", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=State.SUBMITTED.value)
    level: Mapped[str] = mapped_column(String(16), default=Level.HEAD.value)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="RESTRICT"))
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"))
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id", ondelete="RESTRICT"))
    filed_by: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("person.user_id", ondelete="RESTRICT"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Personal matters never appear in a group; building matters filed there report back there.
    personal: Mapped[bool] = mapped_column(default=True)
    # Filed by the household's neighbour head for it (a resident told them at the door).
    on_behalf: Mapped[bool] = mapped_column(default=False)
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Who works on it now: one person (a head, a secretary) or the members of a force.
    handler_user_id: Mapped[int | None] = mapped_column(BigInteger)
    force: Mapped[str] = mapped_column(String(32), default="")
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[str | None] = mapped_column(String(16))
    # For a dispute: the other party's household, when the resident names one.
    other_household_id: Mapped[int | None] = mapped_column(
        ForeignKey("household.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # For the district's rates: when it was first signed and resolved, and whether in time
    # (before the deadline of that step, as it stood then).
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_in_time: Mapped[bool | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_in_time: Mapped[bool | None] = mapped_column()
    # Which step the deadline is for: sign, resolve, decide or confirm.
    deadline_step: Mapped[str] = mapped_column(String(16), default="sign")
    # Bumped by every transition: of two handlers acting at once, one wins (see claim()).
    version: Mapped[int] = mapped_column(Integer, default=1)

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "level": self.level,
            "handler_user_id": self.handler_user_id,
            "force": self.force or None,
            "deadline_at": self.deadline_at.isoformat() if self.deadline_at else None,
        }


class RequestFollower(Base):
    """A neighbour who pressed "me too" (跟进) instead of filing the same matter again."""

    __tablename__ = "request_follower"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("request.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferenceCounter(Base):
    """The district-wide sequence of request numbers, one per year."""

    __tablename__ = "reference_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


async def next_reference(session: AsyncSession, estate: Estate, year: int) -> str:
    """Take the next number of the year; unique in the district whatever the prefix."""
    bumped = await session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    )
    number = bumped.scalar()
    if number is None:
        session.add(ReferenceCounter(year=year, last=1))
        await session.flush()
        number = 1
    return f"{estate.prefix or estate_prefix(estate.name)}-{year}-{number:06d}"


async def claim(session: AsyncSession, request: Request) -> bool:
    """Take the request's current version for one transition; False if someone moved it first.

    On PostgreSQL a second worker's UPDATE waits for the first to commit, then matches nothing;
    on SQLite writers queue, so the second one reads the new state before it gets here.
    """
    moved = await session.execute(
        update(Request)
        .where(Request.id == request.id, Request.version == request.version)
        .values(version=Request.version + 1)
        # The session is not searched for the row (that costs a scan of every loaded request);
        # the one object is brought up to date below.
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return False
    set_committed_value(request, "version", request.version + 1)
    return True


async def claim_many(session: AsyncSession, requests: Sequence[Request]) -> list[Request]:
    """Claim several requests in one statement (as `claim` each); return those this run took."""
    if not requests:
        return []
    moved = set(
        await session.scalars(
            update(Request)
            .where(tuple_(Request.id, Request.version).in_([(r.id, r.version) for r in requests]))
            .values(version=Request.version + 1)
            .returning(Request.id)
            .execution_options(synchronize_session=False)
        )
    )
    taken = [r for r in requests if r.id in moved]
    for request in taken:
        set_committed_value(request, "version", request.version + 1)
    return taken
