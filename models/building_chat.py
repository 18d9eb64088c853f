"""Building group chats: one-time bind codes, and which chat belongs to which building."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow

CODE_LIFETIME = timedelta(days=7)


class BindCode(Base):
    __tablename__ = "bind_code"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BuildingChat(Base):
    """A group chat bound to a building; a building may have a new chat replace the old."""

    __tablename__ = "building_chat"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(128))
    bound_by: Mapped[int] = mapped_column(BigInteger)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def new_bind_code(session: AsyncSession, building_id: int, actor: str) -> BindCode:
    """Issue a one-time code an estate admin types into the building's group."""
    code = BindCode(
        code=secrets.token_urlsafe(9),
        building_id=building_id,
        expires_at=utcnow() + CODE_LIFETIME,
    )
    session.add(code)
    audit(session, actor, "bind_code.issue", "building", building_id)
    return code


async def usable_code(session: AsyncSession, code: str) -> BindCode | None:
    found = await session.get(BindCode, code) if 0 < len(code) <= 32 else None
    if found is None or found.used_at is not None or found.expires_at <= utcnow():
        return None
    return found


async def building_of_chat(session: AsyncSession, chat_id: int) -> int | None:
    return await session.scalar(
        select(BuildingChat.building_id).where(BuildingChat.chat_id == chat_id)
    )
