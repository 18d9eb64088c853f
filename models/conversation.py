"""Conversation state per chat and user, kept in the database so any worker can go on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, String, bindparam, inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# A conversation left alone this long is forgotten; the person starts again.
LIFETIME = timedelta(hours=24)

Key = tuple[int, int]  # chat, user


class Conversation(Base):
    __tablename__ = "conversation"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Conversations:
    """The conversations of one transaction: read together, changed only through here.

    The worker reads the conversations of a whole batch of updates in one statement; since
    every change goes through this object, what it holds stays what the database holds.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._held: dict[Key, Conversation | None] = {}

    async def load(self, keys: Iterable[Key]) -> None:
        """Read many conversations in one statement; remember which do not exist."""
        wanted = {key for key in keys if key not in self._held}
        if not wanted:
            return
        for found in await self.session.scalars(_BY_KEYS, {"keys": sorted(wanted)}):
            self._held[(found.chat_id, found.user_id)] = found
        for key in wanted:
            self._held.setdefault(key, None)

    def held(self, chat_id: int, user_id: int) -> Conversation | None:
        """A conversation already read (expired or not), without asking the database."""
        return self._held.get((chat_id, user_id))

    async def current(self, chat_id: int, user_id: int) -> Conversation | None:
        """The live conversation of a person in a chat; an expired one is forgotten."""
        key = (chat_id, user_id)
        if key not in self._held:
            self._held[key] = await self.session.get(Conversation, key)
        found = self._held[key]
        if found is not None and found.expires_at <= utcnow():
            await self.end(chat_id, user_id)
            return None
        return found

    async def begin(
        self, chat_id: int, user_id: int, flow: str, step: StrEnum, data: dict[str, Any]
    ) -> Conversation:
        """Start (or restart) a conversation at a step."""
        found = await self.current(chat_id, user_id)
        if found is None:
            found = Conversation(chat_id=chat_id, user_id=user_id)
            self.session.add(found)
            self._held[(chat_id, user_id)] = found
        found.flow, found.step, found.data = flow, step.value, data
        found.expires_at = utcnow() + LIFETIME
        return found

    async def end(self, chat_id: int, user_id: int) -> bool:
        """Leave any conversation; return whether there was one."""
        key = (chat_id, user_id)
        found = self._held.get(key) if key in self._held else await self.current(*key)
        if found is None:
            return False
        if inspect(found).pending:
            self.session.expunge(found)  # never written: nothing to delete
        else:
            await self.session.delete(found)
        self._held[key] = None
        return True


# Built once: the worker asks for every batch.
_BY_KEYS = select(Conversation).where(
    tuple_(Conversation.chat_id, Conversation.user_id).in_(bindparam("keys", expanding=True))
)
