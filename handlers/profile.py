"""What a person changes about themselves from /me: their name, a head's phone, fee reminders."""

from __future__ import annotations

from enum import StrEnum

from handlers.events import Reply
from handlers.flow import Flow
from handlers.turn import Turn
from models.button import Pressed
from models.conversation import Conversation
from models.phone import readable
from models.problem import Problem
from models.profile import clean_phone, set_fee_reminders, set_name, set_phone

NAME = "profile"


class Step(StrEnum):
    NAME = "name"
    PHONE = "phone"


async def name_chosen(turn: Turn, pressed: Pressed) -> list[Reply]:
    """A name offered on a button (the householder's, the person's Telegram name)."""
    return await _named(turn, str(pressed.data.get("name", "")))


async def type_name(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Ask the person to write the name they want."""
    await turn.begin(NAME, Step.NAME, {})
    return [turn.answer("chat.name_type")]


async def ask_phone(turn: Turn, pressed: Pressed) -> list[Reply]:
    await turn.begin(NAME, Step.PHONE, {})
    return [turn.answer("chat.phone_ask")]


async def answered(turn: Turn, state: Conversation) -> list[Reply]:
    """The answer to "what should we call you" or "what is your phone"."""
    text = (turn.event.text or "").strip()
    if state.step == Step.NAME:
        return await _named(turn, text)
    if state.step == Step.PHONE and text:
        try:
            phone = clean_phone(text)
        except Problem as problem:
            return [turn.answer(problem.key, **problem.params)]
        await turn.end()
        yes, no = turn.buttons(
            [
                ("chat.phone_on_card_yes", "profile.phone_card", {"phone": phone, "on_card": True}),
                ("chat.phone_on_card_no", "profile.phone_card", {"phone": phone, "on_card": False}),
            ]
        )
        return [turn.answer("chat.phone_on_card_ask", [[yes], [no]], phone=readable(phone))]
    return [turn.answer("chat.phone_ask")]


async def phone_decided(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Store the phone with the head's answer on printing it."""
    user = turn.event.user_id
    on_card = bool(pressed.data.get("on_card"))
    phone = str(pressed.data.get("phone", ""))
    try:
        person = await set_phone(turn.session, user, phone, on_card, f"user:{user}")
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    if person.phone_on_card and person.phone:
        return [turn.answer("chat.phone_set_card", phone=readable(person.phone))]
    return [turn.answer("chat.phone_set_private")]


async def fees_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Turn the monthly fee reminder on or off for one of the person's households."""
    user = turn.event.user_id
    on = bool(pressed.data.get("on"))
    try:
        await set_fee_reminders(
            turn.session, user, int(pressed.data.get("resident", 0)), on, f"user:{user}"
        )
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    return [turn.answer("chat.fees_on" if on else "chat.fees_off")]


async def _named(turn: Turn, text: str) -> list[Reply]:
    user = turn.event.user_id
    try:
        person = await set_name(turn.session, user, text, f"user:{user}")
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]  # asked again
    await turn.end()
    return [turn.answer("chat.name_set", name=person.display_name)]


FLOW = Flow(
    name=NAME,
    buttons={
        "profile.name": name_chosen,
        "profile.type_name": type_name,
        "profile.phone": ask_phone,
        "profile.phone_card": phone_decided,
        "profile.fees": fees_pressed,
    },
    steps=Step,
    on_text=answered,
)
