"""Tell the author of a notice that it could not be delivered, and why, in plain words."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.households import household_label
from handlers.speech import Voice, voice_of
from models.building_chat import BuildingChat
from models.person import Person, Resident
from models.registry import Household


def reason_key(error: str) -> str:
    """Name the cause in words a community worker understands; the raw error stays in the log."""
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
    recipient = await _recipient(session, recipient_chat_id, say)
    return Reply(author_id, say(reason_key(error), recipient=recipient))


async def _recipient(session: AsyncSession, chat_id: int, say: Voice) -> str:
    """Who a chat is, as the author knows them: a group's title, a resident's name and home."""
    group = await session.get(BuildingChat, chat_id)
    if group is not None:
        return say("chat.recipient_group", title=group.title or "")
    person = await session.get(Person, chat_id)
    name = person.display_name if person is not None else None
    home = await session.scalar(
        select(Household)
        .join(Resident, Resident.household_id == Household.id)
        .where(Resident.user_id == chat_id, Resident.unbound_at.is_(None))
        .order_by(Resident.id)
        .limit(1)
    )
    if home is not None:
        label = await household_label(session, home)
        if name:
            return say("chat.recipient_resident", household=label, name=name)
        return say("chat.recipient_household", household=label)
    return say("chat.recipient_named", name=name) if name else say("chat.someone")
