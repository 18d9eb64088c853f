"""/notice (政策宣传): a head to their households, a secretary to one building or the whole
estate; in the building groups or privately to each registered resident, with read counts.

A notice sent in the estate's quiet hours waits for the morning, unless its author says it is
urgent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select

from handlers.events import Button, Reply
from handlers.flow import Command, Flow, Where
from handlers.speech import Voice
from handlers.turn import Turn
from models import button
from models.audit import audit
from models.base import utcnow
from models.building_chat import BuildingChat
from models.button import ANYONE, Pressed
from models.conversation import Conversation
from models.notice import Notice, checked_text, mark_read
from models.person import Resident
from models.problem import Problem
from models.registry import Building, Household, NeighbourGroup
from models.role import Role, live_assignments
from models.schedule_rule import week_of

NAME = "notices"
CHANNELS = ("groups", "private")
# Buildings offered as buttons to a secretary; an estate with more is sent to as a whole.
MOST_BUILDINGS = 30


class Step(StrEnum):
    TEXT = "text"


async def notice(turn: Turn) -> list[Reply]:
    await turn.begin(NAME, Step.TEXT, {})
    return [turn.answer("notice.ask_text")]


async def text_given(turn: Turn, state: Conversation) -> list[Reply]:
    """The notice's words; a secretary then chooses a building or the whole estate."""
    try:
        text = checked_text(turn.event.text or "")
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    await turn.begin(NAME, Step.TEXT, {"text": text})
    estate_id = await _secretary_of(turn)
    if estate_id is None:
        return [_ask_channel(turn)]
    buildings = list(
        await turn.session.execute(
            select(Building.id, Building.name)
            .where(Building.estate_id == estate_id)
            .order_by(Building.id)
            .limit(MOST_BUILDINGS + 1)
        )
    )
    if len(buildings) > MOST_BUILDINGS:
        return [_ask_channel(turn)]
    choices: list[tuple[str, dict[str, Any]]] = [("notice.scope", {"building": 0})]
    choices += [("notice.scope", {"building": b}) for b, _ in buildings]
    tokens = button.issue(turn.session, turn.event.user_id, turn.event.chat_id, choices)
    labels = [turn.say("notice.button_estate")] + [name for _, name in buildings]
    rows = [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)]
    return [turn.answer("notice.ask_scope", rows)]


async def scope_chosen(turn: Turn, pressed: Pressed) -> list[Reply]:
    state = await turn.conversation()
    if state is None or state.flow != NAME or "text" not in state.data:
        return [turn.toast("chat.button_invalid")]
    await turn.begin(NAME, Step.TEXT, {**state.data, "building": pressed.data.get("building")})
    return [_ask_channel(turn)]


def _ask_channel(turn: Turn) -> Reply:
    choices = turn.buttons(
        [
            ("notice.button_groups", "notice.send", {"channel": "groups"}),
            ("notice.button_private", "notice.send", {"channel": "private"}),
        ]
    )
    return turn.answer("notice.ask_channel", [choices])


async def send(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Send the notice where the author serves: building groups, or each resident privately."""
    session, user = turn.session, turn.event.user_id
    state = await turn.conversation()
    channel = pressed.data.get("channel")
    if state is None or state.flow != NAME or "text" not in state.data or channel not in CHANNELS:
        return [turn.toast("chat.button_invalid")]
    held = await live_assignments(session, user_id=user, on=turn.ctx.today())
    groups = [a.scope_id for a in held if a.role == Role.NEIGHBOUR_HEAD.value]
    estates = [a.scope_id for a in held if a.role == Role.SECRETARY.value]
    where: ColumnElement[bool]
    if estates:
        estate_id = estates[0]
        where = Building.estate_id == estate_id
        building = state.data.get("building")
        if building:
            where = where & (Building.id == building)
    elif groups:
        where = NeighbourGroup.id.in_(groups)
        estate_id = (
            await session.scalar(
                select(Building.estate_id)
                .join(NeighbourGroup, NeighbourGroup.building_id == Building.id)
                .where(NeighbourGroup.id == groups[0])
            )
            or 0
        )
    else:
        await turn.end()
        return [turn.answer("notice.not_allowed")]
    now = utcnow()
    waits = (await week_of(session, estate_id)).not_before(now, turn.ctx.zone)
    if waits is not None and "urgent" not in pressed.data:
        # Quiet hours: the author says whether it waits for the morning or goes out now.
        later, urgent = turn.buttons(
            [
                ("notice.button_morning", "notice.send", {"channel": channel, "urgent": False}),
                ("notice.button_urgent", "notice.send", {"channel": channel, "urgent": True}),
            ]
        )
        at = waits.astimezone(turn.ctx.zone).strftime("%H:%M")
        return [turn.answer("notice.ask_quiet", [[later], [urgent]], time=at)]
    not_before = None if pressed.data.get("urgent") else waits
    await turn.end()
    text = state.data["text"]
    if channel == "groups":
        chats = list(
            await session.scalars(
                select(BuildingChat.chat_id)
                .join(Building, Building.id == BuildingChat.building_id)
                .join(NeighbourGroup, NeighbourGroup.building_id == Building.id)
                .where(where)
                .distinct()
            )
        )
    else:
        chats = list(
            await session.scalars(
                select(Resident.user_id)
                .join(Household, Household.id == Resident.household_id)
                .join(NeighbourGroup, NeighbourGroup.id == Household.neighbour_group_id)
                .join(Building, Building.id == Household.building_id)
                .where(where, Resident.unbound_at.is_(None), Household.removed_at.is_(None))
                .distinct()
            )
        )
    sent = Notice(author_user_id=user, estate_id=estate_id, channel=channel, text=text)
    sent.recipients = len(chats)
    session.add(sent)
    await session.flush()
    audit(
        session,
        f"user:{user}",
        "notice.sent",
        "notice",
        sent.id,
        after={
            "channel": channel,
            "recipients": len(chats),
            "building": state.data.get("building") or None,
            "waits": not_before is not None,
        },
    )
    group = Voice(turn.ctx.default_language)
    replies = []
    for chat in sorted(chats):
        in_group = channel == "groups"
        [token] = button.issue(
            session, ANYONE if in_group else chat, chat, [("notice.read", {"id": sent.id})]
        )
        words = group("notice.text", text=text)
        replies.append(
            Reply(
                chat,
                words,
                [[Button(group("notice.button_read"), token)]],
                is_group=in_group,
                not_before=not_before,
            )
        )
    counted = _count(turn.say, sent, 0)
    if not_before is not None:
        at = not_before.astimezone(turn.ctx.zone).strftime("%H:%M")
        counted.text = turn.say("notice.waits", time=at) + "\n" + counted.text
    return [counted, *replies]


async def _secretary_of(turn: Turn) -> int | None:
    held = await live_assignments(turn.session, user_id=turn.event.user_id, on=turn.ctx.today())
    return next((a.scope_id for a in held if a.role == Role.SECRETARY.value), None)


def _count(say: Voice, sent: Notice, read: int) -> Reply:
    """The author's message, edited in place as people read."""
    return Reply(
        sent.author_user_id,
        say("notice.sent", recipients=sent.recipients, read=read),
        edit_key=f"notice:{sent.id}",
    )


async def read(turn: Turn, pressed: Pressed) -> list[Reply]:
    sent = await turn.session.get(Notice, pressed.data.get("id", 0))
    if sent is None:
        return [turn.toast("chat.button_invalid")]
    count = await mark_read(turn.session, sent, turn.event.user_id)
    author = Voice(turn.ctx.default_language)
    return [turn.toast("notice.thanks"), _count(author, sent, count)]


FLOW = Flow(
    name=NAME,
    commands=(
        Command(
            "notice",
            notice,
            roles=frozenset({Role.NEIGHBOUR_HEAD, Role.SECRETARY}),
            where=Where.PRIVATE,
            rank=20,
        ),
    ),
    buttons={"notice.send": send, "notice.scope": scope_chosen, "notice.read": read},
    steps=Step,
    on_text=text_given,
)
