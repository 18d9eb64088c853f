"""A household's members: who says a newcomer is not one of them, who moves out, who is removed."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.flow import Flow
from handlers.households import household_label
from handlers.speech import voice_of
from handlers.turn import Turn
from models.button import Pressed
from models.membership import Unbound, refuse, unbind
from models.person import Resident
from models.problem import Problem
from models.registry import Household
from models.request_flow import head_of


async def refused(turn: Turn, pressed: Pressed) -> list[Reply]:
    """A member says the newcomer is not of their household: unbind them, tell them and the head."""
    session, event, ctx = turn.session, turn.event, turn.ctx
    try:
        resident, household = await refuse(
            session, int(pressed.data.get("resident", 0)), event.user_id
        )
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    label = await household_label(session, household)
    chat_name = str(pressed.data.get("chat_name", ""))
    newcomer = await voice_of(session, resident.user_id, ctx.default_language)
    replies = [
        turn.answer("chat.refused_done"),
        Reply(resident.user_id, newcomer("chat.refused_newcomer", household=label)),
    ]
    head = await head_of(session, household.neighbour_group_id, ctx.today())
    if head is not None and head != event.user_id:
        theirs = await voice_of(session, head, ctx.default_language)
        text = theirs("chat.refused_head", household=label, chat_name=chat_name)
        replies.append(Reply(head, text))
    return replies


async def ask_leave(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Make sure the person means to leave the household."""
    resident = await _own_binding(turn, pressed)
    if resident is None:
        return [turn.answer("chat.button_invalid")]
    household = await turn.session.get_one(Household, resident.household_id)
    buttons = turn.buttons(
        [
            ("chat.leave_yes", "profile.leave_yes", {"resident": resident.id}),
            ("chat.leave_no", "profile.leave_no", {}),
        ]
    )
    label = await household_label(turn.session, household, turn.batch.names)
    return [turn.answer("chat.leave_confirm", [buttons], household=label)]


async def leave(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Leave a household (moving out); its head hears of it."""
    session, event, ctx = turn.session, turn.event, turn.ctx
    resident = await _own_binding(turn, pressed)
    if resident is None:
        return [turn.answer("chat.button_invalid")]
    await unbind(session, resident, Unbound.LEFT, f"user:{event.user_id}")
    household = await session.get_one(Household, resident.household_id)
    label = await household_label(session, household)
    replies = [turn.answer("chat.left", household=label)]
    head = await head_of(session, household.neighbour_group_id, ctx.today())
    if head is not None and head != event.user_id:
        person = await turn.batch.person(event.user_id)
        their = await voice_of(session, head, ctx.default_language)
        name = (person.display_name if person else None) or their("chat.someone")
        replies.append(Reply(head, their("chat.left_head", household=label, name=name)))
    return replies


async def stay(turn: Turn, pressed: Pressed) -> list[Reply]:
    return [turn.answer("chat.leave_kept")]


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


async def _own_binding(turn: Turn, pressed: Pressed) -> Resident | None:
    resident = await turn.session.get(Resident, int(pressed.data.get("resident", 0)))
    if (
        resident is None
        or resident.user_id != turn.event.user_id
        or resident.unbound_at is not None
    ):
        return None
    return resident


FLOW = Flow(
    name="membership",
    buttons={
        "member.refuse": refused,
        "profile.leave": ask_leave,
        "profile.leave_yes": leave,
        "profile.leave_no": stay,
    },
)
