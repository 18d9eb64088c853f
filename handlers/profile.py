"""What a person changes about themselves from /me: the name they go by, and a head's phone."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Incoming, Reply, answer
from handlers.speech import Voice
from models import button, conversation
from models.phone import readable
from models.problem import Problem
from models.profile import clean_phone, set_name, set_phone

FLOW = "profile"
NAME = "name"
PHONE = "phone"


async def name_chosen(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """A name offered on a button (the householder's, the person's Telegram name)."""
    return await _named(session, event, say, str(data.get("name", "")))


async def type_name(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    """Ask the person to write the name they want."""
    await conversation.begin(session, event.chat_id, event.user_id, FLOW, NAME, {})
    return [answer(event, say("chat.name_type"))]


async def ask_phone(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    await conversation.begin(session, event.chat_id, event.user_id, FLOW, PHONE, {})
    return [answer(event, say("chat.phone_ask"))]


async def step(
    session: AsyncSession, event: Incoming, say: Voice, state: conversation.Conversation
) -> list[Reply]:
    """The answer to "what should we call you" or "what is your phone"."""
    text = (event.text or "").strip()
    if state.step == NAME:
        return await _named(session, event, say, text)
    if state.step == PHONE:
        try:
            phone = clean_phone(text)
        except Problem as problem:
            return [answer(event, say(problem.key, **problem.params))]
        await conversation.end(session, event.chat_id, event.user_id)
        choices: list[tuple[str, dict[str, Any]]] = [
            ("profile.phone_card", {"phone": phone, "on_card": shown}) for shown in (True, False)
        ]
        yes, no = button.issue(session, event.user_id, event.chat_id, choices)
        buttons = [
            [Button(say("chat.phone_on_card_yes"), yes)],
            [Button(say("chat.phone_on_card_no"), no)],
        ]
        return [answer(event, say("chat.phone_on_card_ask", phone=readable(phone)), buttons)]
    await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("chat.button_invalid"))]


async def phone_decided(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Store the phone with the head's answer on printing it."""
    on_card = bool(data.get("on_card"))
    try:
        person = await set_phone(
            session, event.user_id, str(data.get("phone", "")), on_card, f"user:{event.user_id}"
        )
    except Problem as problem:
        return [answer(event, say(problem.key, **problem.params))]
    if person.phone_on_card and person.phone:
        return [answer(event, say("chat.phone_set_card", phone=readable(person.phone)))]
    return [answer(event, say("chat.phone_set_private"))]


async def _named(session: AsyncSession, event: Incoming, say: Voice, text: str) -> list[Reply]:
    try:
        person = await set_name(session, event.user_id, text, f"user:{event.user_id}")
    except Problem as problem:
        return [answer(event, say(problem.key, **problem.params))]  # asked again
    await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("chat.name_set", name=person.display_name))]
