"""The outbox: every message the bot sends, written with the change that caused it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from models.base import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index(
            "ix_outbox_message_pending",
            "chat_id",
            "id",
            sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # A group chat has its own, stricter rate limit.
    is_group: Mapped[bool] = mapped_column(default=False)
    # Bot API method and its parameters, as neutral data: sendMessage, editMessageText, ...
    method: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The user whose action caused it, for immediate answers; None for notices.
    cause_user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class Due:
    """What the sender needs of a pending message: plain values, not a loaded row."""

    id: int
    chat_id: int
    is_group: bool
    method: str
    params: dict[str, Any]
    cause_user_id: int | None
    attempts: int


async def next_per_chat(
    session: AsyncSession, limit: int, now: datetime, sent: Collection[int] = ()
) -> list[Due]:
    """Return the oldest pending message of each chat that is due, oldest first.

    Only a chat's oldest pending message is eligible, so order within a chat is kept even
    while an earlier message waits out a retry. `sent` names messages already sent whose
    marks have not reached the database yet: they count as sent.
    """
    # Never empty: SQLite plans an empty NOT IN (a subquery SQLAlchemy writes) far worse.
    skip = sorted(sent) or [0]
    rows = await session.execute(_NEXT_PER_CHAT, {"now": now, "limit": limit, "sent": skip})
    return [Due(*row) for row in rows]


# Built once: the sender asks every round.
_pending = aliased(OutboxMessage)
_NEXT_PER_CHAT = (
    select(
        OutboxMessage.id,
        OutboxMessage.chat_id,
        OutboxMessage.is_group,
        OutboxMessage.method,
        OutboxMessage.params,
        OutboxMessage.cause_user_id,
        OutboxMessage.attempts,
    )
    .where(
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.id.not_in(bindparam("sent", expanding=True)),
        OutboxMessage.id.in_(
            select(func.min(_pending.id))
            .where(
                _pending.sent_at.is_(None),
                _pending.failed_at.is_(None),
                _pending.id.not_in(bindparam("sent", expanding=True)),
            )
            .group_by(_pending.chat_id)
        ),
        (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= bindparam("now")),
    )
    .order_by(OutboxMessage.id)
    .limit(bindparam("limit"))
)


async def undelivered(session: AsyncSession) -> int:
    """How many messages are neither sent nor failed for good (sends still in the journal count)."""
    query = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
    )
    return int(await session.scalar(query) or 0)
