"""A group upgraded to a supergroup: its binding and everything naming it follow the new id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Incoming, Reply
from models.building_chat import migrate_group


async def migrated(session: AsyncSession, event: Incoming) -> list[Reply]:
    """Move the group's binding to its new chat id; nobody needs telling."""
    move = event.migration
    if move is None:
        return []
    old_chat_id, new_chat_id = move
    actor = f"user:{event.user_id}" if event.user_id else "system:telegram"
    await migrate_group(session, old_chat_id, new_chat_id, actor=actor)
    return []
