"""Tell the author of a notice that it could not be delivered, and why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.speech import voice_of
from models.person import Person


def reason_key(error: str) -> str:
    """Name the cause in words a community worker understands."""
    lowered = error.lower()
    if "blocked" in lowered or "deactivated" in lowered:
        return "chat.undelivered_blocked"
    if "not found" in lowered or "kicked" in lowered or "not a member" in lowered:
        return "chat.undelivered_missing"
    return "chat.undelivered_other"


async def undelivered(
    session: AsyncSession, author_id: int, recipient_chat_id: int, error: str, default_language: str
) -> Reply:
    """A private message to the author naming the recipient and the cause."""
    say = await voice_of(session, author_id, default_language)
    recipient = await session.get(Person, recipient_chat_id)
    name = (recipient.display_name if recipient else None) or str(recipient_chat_id)
    return Reply(author_id, say(reason_key(error), recipient=name, error=error))
