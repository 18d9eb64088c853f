"""The outbox: every message the bot sends, written with the change that caused it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, and_, func, select, text
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


async def next_per_chat(session: AsyncSession, limit: int, now: datetime) -> list[OutboxMessage]:
    """Return the oldest pending message of each chat that is due, oldest first.

    Only a chat's oldest pending message is eligible, so order within a chat is kept even
    while an earlier message waits out a retry.
    """
    pending = and_(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
    earlier = aliased(OutboxMessage)
    oldest = (
        select(func.min(earlier.id))
        .where(earlier.sent_at.is_(None), earlier.failed_at.is_(None))
        .group_by(earlier.chat_id)
    )
    query = (
        select(OutboxMessage)
        .where(
            pending,
            OutboxMessage.id.in_(oldest),
            (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def undelivered(session: AsyncSession) -> int:
    """How many messages are neither sent nor failed for good (sends still in the journal count)."""
    query = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
    )
    return int(await session.scalar(query) or 0)
