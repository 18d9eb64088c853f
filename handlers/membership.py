"""A household's members: who says a newcomer is not one of them, who moves out, who is removed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer
from handlers.households import household_label
from handlers.speech import Voice, voice_of
from models import button
from models.known import find
from models.membership import Unbound, refuse, unbind
from models.person import Person, Resident
from models.problem import Problem
from models.registry import Household
from models.request_flow import head_of


async def refused(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """A member says the newcomer is not of their household: unbind them, tell them and the head."""
    try:
        resident, household = await refuse(session, int(data.get("resident", 0)), event.user_id)
    except Problem as problem:
        return [answer(event, say(problem.key, **problem.params))]
    label = await household_label(session, household)
    chat_name = str(data.get("chat_name", ""))
    newcomer = await voice_of(session, resident.user_id, ctx.default_language)
    replies = [
        answer(event, say("chat.refused_done")),
        Reply(resident.user_id, newcomer("chat.refused_newcomer", household=label)),
    ]
    head = await head_of(session, household.neighbour_group_id, ctx.today())
    if head is not None and head != event.user_id:
        theirs = await voice_of(session, head, ctx.default_language)
        text = theirs("chat.refused_head", household=label, chat_name=chat_name)
        replies.append(Reply(head, text))
    return replies


async def ask_leave(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Make sure the person means to leave the household."""
    resident = await _own_binding(session, event, data)
    if resident is None:
        return [answer(event, say("chat.button_invalid"))]
    household = await session.get_one(Household, resident.household_id)
    choices: list[tuple[str, dict[str, Any]]] = [
        ("profile.leave_yes", {"resident": resident.id}),
        ("profile.leave_no", {}),
    ]
    yes, no = button.issue(session, event.user_id, event.chat_id, choices)
    label = await household_label(session, household)
    buttons = [[Button(say("chat.leave_yes"), yes), Button(say("chat.leave_no"), no)]]
    return [answer(event, say("chat.leave_confirm", household=label), buttons)]


async def leave(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Leave a household (moving out); its head hears of it."""
    resident = await _own_binding(session, event, data)
    if resident is None:
        return [answer(event, say("chat.button_invalid"))]
    await unbind(session, resident, Unbound.LEFT, f"user:{event.user_id}")
    household = await session.get_one(Household, resident.household_id)
    label = await household_label(session, household)
    replies = [answer(event, say("chat.left", household=label))]
    head = await head_of(session, household.neighbour_group_id, ctx.today())
    if head is not None and head != event.user_id:
        person = await find(session, Person, event.user_id)
        their = await voice_of(session, head, ctx.default_language)
        name = (person.display_name if person else None) or their("chat.someone")
        replies.append(Reply(head, their("chat.left_head", household=label, name=name)))
    return replies


async def stay(event: Incoming, say: Voice) -> list[Reply]:
    return [answer(event, say("chat.leave_kept"))]


async def removed(
    session: AsyncSession, household: Household, user_id: int, language: str, today: date
) -> list[Reply]:
    """The estate admin removed a member: tell them, and the head who hands over the new card."""
    label = await household_label(session, household)
    their = await voice_of(session, user_id, language)
    replies = [Reply(user_id, their("chat.removed", household=label))]
    head = await head_of(session, household.neighbour_group_id, today)
    if head is not None and head != user_id:
        theirs = await voice_of(session, head, language)
        replies.append(Reply(head, theirs("chat.removed_head", household=label)))
    return replies


async def _own_binding(
    session: AsyncSession, event: Incoming, data: dict[str, Any]
) -> Resident | None:
    resident = await session.get(Resident, int(data.get("resident", 0)))
    if resident is None or resident.user_id != event.user_id or resident.unbound_at is not None:
        return None
    return resident
