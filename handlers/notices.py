"""/notice (政策宣传): a head to their households, a secretary to the estate, with read counts."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select

from handlers.events import Button, Reply
from handlers.flow import Command, Flow, Where
from handlers.speech import Voice
from handlers.turn import Turn
from models import button
from models.audit import audit
from models.building_chat import BuildingChat
from models.button import ANYONE, Pressed
from models.conversation import Conversation
from models.notice import Notice, checked_text, mark_read
from models.person import Resident
from models.problem import Problem
from models.registry import Building, Household, NeighbourGroup
from models.role import Role, live_assignments

NAME = "notices"
CHANNELS = ("groups", "private")


class Step(StrEnum):
    TEXT = "text"


async def notice(turn: Turn) -> list[Reply]:
    await turn.begin(NAME, Step.TEXT, {})
    return [turn.answer("notice.ask_text")]


async def text_given(turn: Turn, state: Conversation) -> list[Reply]:
    try:
        text = checked_text(turn.event.text or "")
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    await turn.begin(NAME, Step.TEXT, {"text": text})
    choices = turn.buttons(
        [
            ("notice.button_groups", "notice.send", {"channel": "groups"}),
            ("notice.button_private", "notice.send", {"channel": "private"}),
        ]
    )
    return [turn.answer("notice.ask_channel", [choices])]


async def send(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Send the notice where the author serves: building groups, or each resident privately."""
    session, user = turn.session, turn.event.user_id
    state = await turn.conversation()
    channel = pressed.data.get("channel")
    if state is None or state.flow != NAME or "text" not in state.data or channel not in CHANNELS:
        return [turn.toast("chat.button_invalid")]
    await turn.end()
    held = await live_assignments(session, user_id=user, on=turn.ctx.today())
    groups = [a.scope_id for a in held if a.role == Role.NEIGHBOUR_HEAD.value]
    estates = [a.scope_id for a in held if a.role == Role.SECRETARY.value]
    if estates:
        where = Building.estate_id == estates[0]
        estate_id = estates[0]
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
        return [turn.answer("notice.not_allowed")]
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
        after={"channel": channel, "recipients": len(chats)},
    )
    group = Voice(turn.ctx.default_language)
    replies = []
    for chat in chats:
        in_group = channel == "groups"
        [token] = button.issue(
            session, ANYONE if in_group else chat, chat, [("notice.read", {"id": sent.id})]
        )
        words = group("notice.text", text=text)
        replies.append(
            Reply(chat, words, [[Button(group("notice.button_read"), token)]], is_group=in_group)
        )
    return [_count(turn.say, sent, 0), *replies]


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
    buttons={"notice.send": send, "notice.read": read},
    steps=Step,
    on_text=text_given,
)
