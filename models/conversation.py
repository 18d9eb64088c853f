"""Conversation state per chat and user, kept in the database so any worker can go on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.known import delete, find

# A conversation left alone this long is forgotten; the person starts again.
LIFETIME = timedelta(hours=24)


class Conversation(Base):
    __tablename__ = "conversation"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


async def current(session: AsyncSession, chat_id: int, user_id: int) -> Conversation | None:
    """Return the live conversation of a person in a chat, forgetting an expired one."""
    found = await find(session, Conversation, (chat_id, user_id))
    if found is not None and found.expires_at <= utcnow():
        await delete(session, found)
        return None
    return found


async def begin(
    session: AsyncSession, chat_id: int, user_id: int, flow: str, step: str, data: dict[str, Any]
) -> Conversation:
    """Start (or restart) a conversation at its first step."""
    found = await find(session, Conversation, (chat_id, user_id))
    if found is None:
        found = Conversation(chat_id=chat_id, user_id=user_id)
        session.add(found)
    found.flow, found.step, found.data = flow, step, data
    found.expires_at = utcnow() + LIFETIME
    return found


async def end(session: AsyncSession, chat_id: int, user_id: int) -> bool:
    """Leave any conversation; return whether there was one."""
    # Through the session, not a bulk DELETE: the worker has usually loaded the conversation
    # already, and a bulk DELETE would search every loaded conversation for the row it hit.
    found = await find(session, Conversation, (chat_id, user_id))
    if found is None:
        return False
    await delete(session, found)
    return True
