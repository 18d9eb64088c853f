"""A group upgraded to a supergroup: its binding and everything naming it follow the new id."""

from __future__ import annotations

from handlers.events import Reply
from handlers.flow import Flow
from handlers.turn import Turn
from models.building_chat import migrate_group


async def migrated(turn: Turn) -> list[Reply]:
    """Move the group's binding to its new chat id; nobody needs telling."""
    move = turn.event.migration
    if move is None:
        return []
    old_chat_id, new_chat_id = move
    user = turn.event.user_id
    actor = f"user:{user}" if user else "system:telegram"
    await migrate_group(turn.session, old_chat_id, new_chat_id, actor=actor)
    return []


FLOW = Flow(name="migration", on_migration=migrated)
