"""Recording five-ones visits (五一行动) from the weekly list or a household's card."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select

from handlers.events import Button, Reply, toast
from handlers.flow import Flow
from handlers.households import household_place
from handlers.requests import groups_served
from handlers.turn import Turn
from models import button
from models.audit import audit
from models.base import utcnow
from models.button import Pressed
from models.conversation import Conversation
from models.problem import Problem
from models.registry import Household
from models.visit import LONGEST_NOTE, FiveOnes, Visit, VisitState, record_visit

NAME = "visits"
# How a note names the five ones it did, in the practice's words.
ONES_WORDS = {
    "走一走": FiveOnes.WALK,
    "看一看": FiveOnes.LOOK,
    "聊一聊": FiveOnes.CHAT,
    "劝一劝": FiveOnes.PERSUADE,
    "帮一帮": FiveOnes.HELP,
}


class Step(StrEnum):
    NOTE = "note"


async def visited(turn: Turn, pressed: Pressed) -> list[Reply]:
    return await _record(turn, pressed.data.get("id"), VisitState.VISITED)


async def not_home(turn: Turn, pressed: Pressed) -> list[Reply]:
    return await _record(turn, pressed.data.get("id"), VisitState.NOT_HOME)


async def put_off(turn: Turn, pressed: Pressed) -> list[Reply]:
    return await _record(turn, pressed.data.get("id"), VisitState.PUT_OFF)


async def visit_from_card(turn: Turn, pressed: Pressed) -> list[Reply]:
    """ "Visited" on a household's card: this week's planned visit, or one not on the list."""
    session, user = turn.session, turn.event.user_id
    household = await session.get(Household, pressed.data.get("household_id", 0))
    served = await groups_served(session, user, turn.ctx)
    if household is None or household.neighbour_group_id not in served:
        return [turn.toast("visit.not_yours")]
    today = turn.ctx.today()
    week = today - timedelta(days=today.weekday())
    planned = await session.scalar(
        select(Visit).where(Visit.household_id == household.id, Visit.week == week)
    )
    if planned is None:
        planned = Visit(
            household_id=household.id,
            head_user_id=user,
            week=week,
            state=VisitState.PLANNED.value,
            ones="",
        )
        session.add(planned)
        await session.flush()
    return await _record(turn, planned.id, VisitState.VISITED)


async def _record(turn: Turn, visit_id: object, state: VisitState) -> list[Reply]:
    """Record the outcome; a foreign or stale press is told only to the presser."""
    if not isinstance(visit_id, int):
        return [turn.toast("chat.button_invalid")]
    try:
        visit = await record_visit(turn.session, visit_id, turn.event.user_id, state, utcnow())
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    household = await turn.session.get_one(Household, visit.household_id)
    where = await household_place(turn.session, household, turn.batch.names)
    if state is not VisitState.VISITED:
        return [toast(turn.event, ""), turn.answer(f"visit.recorded_{state.value}", place=where)]
    await turn.begin(NAME, Step.NOTE, {"id": visit.id})
    text = turn.say("visit.recorded_visited", place=where)
    return [toast(turn.event, ""), turn.answer_text(text, _ones_keyboard(turn, visit, []))]


def _ones_keyboard(turn: Turn, visit: Visit, chosen: list[str]) -> list[list[Button]]:
    """The five ones to tick (a tick on those chosen), done, and "found a problem"."""
    choices: list[tuple[str, dict[str, object]]] = [
        ("visit.one", {"id": visit.id, "one": one.value, "chosen": chosen}) for one in FiveOnes
    ]
    choices.append(("visit.ones_done", {"id": visit.id, "chosen": chosen}))
    # Issued apart, so ticking the five ones leaves "found a problem" to press afterwards.
    [problem] = button.issue(
        turn.session,
        turn.event.user_id,
        turn.event.chat_id,
        [("req.household", {"household_id": visit.household_id})],
    )
    tokens = button.issue(turn.session, turn.event.user_id, turn.event.chat_id, choices)
    labels = [
        turn.say(
            "visit.one_chosen" if one.value in chosen else "visit.one_open",
            one=turn.say(f"visit.one_{one.value}"),
        )
        for one in FiveOnes
    ]
    ones = [Button(label, token) for label, token in zip(labels, tokens[:-1], strict=True)]
    return [
        ones[:3],
        ones[3:],
        [Button(turn.say("visit.button_ones_done"), tokens[-1])],
        [Button(turn.say("visit.button_problem"), problem)],
    ]


async def one_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Tick or untick one of the five ones: the same message, its buttons redrawn."""
    visit = await _own_visit(turn, pressed)
    one = pressed.data.get("one")
    if visit is None or one not in {o.value for o in FiveOnes}:
        return [turn.toast("chat.button_invalid")]
    chosen = [str(c) for c in pressed.data.get("chosen", [])]
    chosen = [c for c in chosen if c != one] if one in chosen else [*chosen, one]
    return [toast(turn.event, ""), await _redrawn(turn, visit, chosen)]


async def _redrawn(turn: Turn, visit: Visit, chosen: list[str]) -> Reply:
    """The pressed message again, with fresh buttons (those pressed are spent)."""
    household = await turn.session.get_one(Household, visit.household_id)
    where = await household_place(turn.session, household, turn.batch.names)
    return Reply(
        turn.event.chat_id,
        turn.say("visit.recorded_visited", place=where),
        _ones_keyboard(turn, visit, chosen),
        edit_message_id=turn.event.message_id,
    )


async def ones_done(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Record the five ones ticked; the short note may follow."""
    visit = await _own_visit(turn, pressed)
    if visit is None:
        return [turn.toast("chat.button_invalid")]
    picked = {str(c) for c in pressed.data.get("chosen", [])}
    ones = [one for one in FiveOnes if one.value in picked]
    if not ones:
        return [turn.toast("visit.ones_none"), await _redrawn(turn, visit, [])]
    visit.ones = ",".join(o.value for o in ones)
    audit(
        turn.session,
        f"user:{turn.event.user_id}",
        "visit.ones",
        "visit",
        visit.id,
        after={"ones": [o.value for o in ones]},
    )
    words = turn.say("week.and").join(turn.say(f"visit.one_{o.value}") for o in ones)
    await turn.begin(NAME, Step.NOTE, {"id": visit.id})
    return [toast(turn.event, ""), turn.answer("visit.ones_recorded", ones=words)]


async def _own_visit(turn: Turn, pressed: Pressed) -> Visit | None:
    """The visit a button names, if it is the presser's and was recorded as visited."""
    visit = await turn.session.get(Visit, pressed.data.get("id", 0))
    if visit is None or visit.head_user_id != turn.event.user_id:
        return None
    return visit if visit.state == VisitState.VISITED.value else None


async def note(turn: Turn, state: Conversation) -> list[Reply]:
    """The short note after a visit; five ones it names are added to those ticked."""
    text = (turn.event.text or "").strip()
    if not text:
        return [turn.answer("visit.ask_note")]
    if len(text) > LONGEST_NOTE:
        return [turn.answer("visit.long_note", limit=LONGEST_NOTE)]
    await turn.end()
    visit = await turn.session.get(Visit, state.data.get("id", 0))
    if visit is None or visit.head_user_id != turn.event.user_id:
        return [turn.answer("chat.button_invalid")]
    ticked = {o for o in visit.ones.split(",") if o}
    named = {one.value for word, one in ONES_WORDS.items() if word in text}
    ones = [one for one in FiveOnes if one.value in ticked | named]
    visit.note = text
    visit.ones = ",".join(o.value for o in ones)
    audit(
        turn.session,
        f"user:{turn.event.user_id}",
        "visit.noted",
        "visit",
        visit.id,
        after={"ones": [o.value for o in ones]},
    )
    return [turn.answer("visit.noted")]


FLOW = Flow(
    name=NAME,
    buttons={
        "visit.visited": visited,
        "visit.not_home": not_home,
        "visit.put_off": put_off,
        "visit.from_card": visit_from_card,
        "visit.one": one_pressed,
        "visit.ones_done": ones_done,
    },
    steps=Step,
    on_text=note,
)
