"""Building group chats: one-time bind codes, and which chat belongs to which building."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.button import ButtonToken
from models.outbox import OutboxMessage
from models.request import Request

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


async def migrate_group(
    session: AsyncSession, old_chat_id: int, new_chat_id: int, actor: str = "system:telegram"
) -> bool:
    """Follow a group upgraded to a supergroup: what named the old id names the new one.

    The binding, the requests filed in the group, the messages still to be sent there and the
    group's buttons move. Both service messages and a refused send may report the same move,
    in any order: a second call finds nothing left to move, changes nothing and says False.
    """
    if old_chat_id == new_chat_id:
        return False
    bound = await _move_binding(session, old_chat_id, new_chat_id)
    requests = await session.execute(
        update(Request)
        .where(Request.group_chat_id == old_chat_id)
        .values(group_chat_id=new_chat_id)
    )
    messages = await _move_pending(session, old_chat_id, new_chat_id)
    buttons = await session.execute(
        update(ButtonToken).where(ButtonToken.chat_id == old_chat_id).values(chat_id=new_chat_id)
    )
    moved = {
        "building_id": bound,
        "requests": _count(requests),
        "messages": messages,
        "buttons": _count(buttons),
    }
    if bound is None and not any((moved["requests"], messages, moved["buttons"])):
        return False
    audit(
        session,
        actor,
        "chat.migrate",
        "building_chat",
        new_chat_id,
        before={"chat_id": old_chat_id},
        after={"chat_id": new_chat_id, **moved},
    )
    return True


async def _move_binding(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> int | None:
    """Move the old chat's binding to the new id; return its building, None if none moved."""
    # Queried, not taken from the identity map: both service messages may be in one batch,
    # and the query's autoflush writes the first move before the second looks.
    old = await _bound(session, old_chat_id)
    if old is None:
        return None
    # A binding made in the new group meanwhile is the newer word: it stays as it is.
    if await _bound(session, new_chat_id) is None:
        session.add(
            BuildingChat(
                chat_id=new_chat_id,
                building_id=old.building_id,
                title=old.title,
                bound_by=old.bound_by,
                bound_at=old.bound_at,
            )
        )
    await session.delete(old)
    return old.building_id


async def _bound(session: AsyncSession, chat_id: int) -> BuildingChat | None:
    return await session.scalar(select(BuildingChat).where(BuildingChat.chat_id == chat_id))


async def _move_pending(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> int:
    """Address the messages not yet sent to the old id to the new one; return how many."""
    pending = await session.execute(
        select(OutboxMessage.id, OutboxMessage.params).where(
            OutboxMessage.chat_id == old_chat_id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
        )
    )
    # The chat is named twice: the row's own column, and the Bot API call's parameters.
    rows = [
        {
            "id": outbox_id,
            "chat_id": new_chat_id,
            "params": {**params, "chat_id": new_chat_id} if "chat_id" in params else params,
        }
        for outbox_id, params in pending
    ]
    if rows:
        await session.execute(update(OutboxMessage), rows)
    return len(rows)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
