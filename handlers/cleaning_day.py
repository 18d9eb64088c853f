"""Cleaning day in the building group: 我参加 presses edit one sign-up list; the head marks it
(held, with a photo in private if they like, or not held)."""

from __future__ import annotations

from enum import StrEnum

from handlers.events import Button, Reply, toast
from handlers.flow import Flow
from handlers.speech import Voice
from handlers.turn import Turn
from models import button
from models.button import ANYONE, Pressed
from models.cleaning_day import CleaningDay, add_photo, edit_key, join, joined, mark
from models.conversation import Conversation
from models.problem import Problem

NAME = "cleaning_day"
# The list in the group shows this many names, then how many more.
SHOWN = 60


class Step(StrEnum):
    PHOTO = "photo"


async def join_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """A resident joins: the sign-up message is edited in place with everyone who has."""
    session, event = turn.session, turn.event
    day = await session.get(CleaningDay, pressed.data.get("id", 0))
    if day is None:
        return [turn.toast("chat.button_invalid")]
    if not await join(session, day, event.user_id):
        return [turn.toast("cleaning.already_joined")]
    group = Voice(turn.ctx.default_language)
    names = [n or group("cleaning.a_neighbour") for n in await joined(session, day.id)]
    shown = group("week.and").join(names[:SHOWN])
    if len(names) > SHOWN:
        shown += group("cleaning.and_more", count=len(names) - SHOWN)
    # The group's words, not the presser's: everyone in the group reads the list.
    text = group(
        "cleaning.signup_list",
        month=day.day.month,
        day=day.day.day,
        time=pressed.data.get("time", ""),
        count=len(names),
        names=shown,
    )
    [token] = button.issue(session, ANYONE, event.chat_id, [("cleaning.join", dict(pressed.data))])
    edited = Reply(
        event.chat_id,
        text,
        [[Button(group("cleaning.button_join"), token)]],
        is_group=True,
        edit_key=edit_key(day),
    )
    return [turn.toast("cleaning.joined"), edited]


async def mark_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The head marks the day held (then a photo may follow in private) or not held."""
    day = await turn.session.get(CleaningDay, pressed.data.get("id", 0))
    if day is None:
        return [turn.toast("chat.button_invalid")]
    held = bool(pressed.data.get("held"))
    try:
        await mark(turn.session, day, turn.event.user_id, held)
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    if not held:
        return [toast(turn.event, ""), turn.answer("cleaning.marked_not_held")]
    await turn.begin(NAME, Step.PHOTO, {"id": day.id})
    return [toast(turn.event, ""), turn.answer("cleaning.marked_held")]


async def photo_sent(turn: Turn, state: Conversation) -> list[Reply]:
    """The photo of a day held, kept by Telegram's file id; anything else asks again."""
    if not turn.event.photo_ids:
        return [turn.answer("cleaning.ask_photo")]
    day = await turn.session.get(CleaningDay, state.data.get("id", 0))
    await turn.end()
    if day is None:
        return [turn.answer("chat.button_invalid")]
    try:
        await add_photo(turn.session, day, turn.event.user_id, turn.event.photo_ids[-1])
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    return [turn.answer("cleaning.photo_kept")]


FLOW = Flow(
    name=NAME,
    buttons={"cleaning.join": join_pressed, "cleaning.mark": mark_pressed},
    steps=Step,
    on_text=photo_sent,
)
