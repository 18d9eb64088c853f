"""Who was welcomed into which group, so one person joining is welcomed once.

Telegram reports one join twice when the bot is an administrator: a `chat_member` update and a
service message with `new_chat_members`; either may come alone, so neither can be dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# Someone who leaves and comes back after this long is welcomed again.
AGAIN_AFTER = timedelta(hours=1)


class GroupWelcome(Base):
    __tablename__ = "group_welcome"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    welcomed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


async def first_welcome(session: AsyncSession, chat_id: int, user_id: int) -> bool:
    """Record a welcome; False when this person was welcomed into this chat just now."""
    now = utcnow()
    found = await session.get(GroupWelcome, (chat_id, user_id))
    if found is None:
        session.add(GroupWelcome(chat_id=chat_id, user_id=user_id, welcomed_at=now))
        return True
    if found.welcomed_at > now - AGAIN_AFTER:
        return False
    found.welcomed_at = now
    return True
