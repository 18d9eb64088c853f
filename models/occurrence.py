"""Each firing of a rule (触发), recorded once with the messages it wrote, or as skipped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, insert_or_skip, utcnow


class Outcome(StrEnum):
    FIRED = "fired"
    # Missed while no process ran, for longer than the grace window: never sent late.
    SKIPPED = "skipped"


class Occurrence(Base):
    __tablename__ = "occurrence"
    __table_args__ = (UniqueConstraint("estate_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    messages: Mapped[int] = mapped_column(default=0)


class OccurrenceSend(Base):
    """The idempotency key of one push: (rule, occurrence time, recipient), written once."""

    __tablename__ = "occurrence_send"

    estate_id: Mapped[int] = mapped_column(
        ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


async def recorded_since(session: AsyncSession, since: datetime) -> set[tuple[int, str, datetime]]:
    """The (estate, rule, due time) of every occurrence recorded after a moment."""
    rows = await session.execute(
        select(Occurrence.estate_id, Occurrence.kind, Occurrence.due_at).where(
            Occurrence.due_at > since
        )
    )
    return {(e, k, d) for e, k, d in rows}


def sends(
    estate_id: int, kind: str, due_at: datetime, chats: Iterable[int]
) -> list[dict[str, object]]:
    """The idempotency rows of an occurrence's pushes, one per recipient chat."""
    return [
        {"estate_id": estate_id, "kind": kind, "due_at": due_at, "chat_id": chat}
        for chat in sorted(set(chats))
    ]


async def claim_many(
    session: AsyncSession,
    estate_ids: Iterable[int],
    kind: str,
    due_at: datetime,
    outcome: Outcome,
) -> set[int]:
    """Record one occurrence for each estate in one statement; return the estates this run won.

    An estate another run recorded first is left out (ON CONFLICT DO NOTHING), so of two
    processes each writes the messages of the estates it won, and no estate's twice.
    """
    rows = [
        {
            "estate_id": e,
            "kind": kind,
            "due_at": due_at,
            "outcome": outcome.value,
            "messages": 0,
            "recorded_at": utcnow(),
        }
        for e in estate_ids
    ]
    if not rows:
        return set()
    statement = (
        insert_or_skip(session, Occurrence)
        .on_conflict_do_nothing(index_elements=["estate_id", "kind", "due_at"])
        .returning(Occurrence.estate_id)
    )
    return set(await session.scalars(statement, rows))
