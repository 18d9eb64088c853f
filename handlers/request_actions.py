"""Acting on a request from its card: sign, progress, resolve, escalate, decide, rate."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import deliberations
from handlers.events import Reply
from handlers.flow import Flow
from handlers.request_cards import assignment_card, deadline_card, notices
from handlers.requests import clock_for, desk_for
from handlers.turn import Turn
from models.button import Pressed
from models.conversation import Conversation
from models.problem import Problem
from models.request import Rating, Request, State
from models.request_flow import (
    Change,
    Clock,
    add_progress,
    agree,
    assign,
    deciders,
    escalate,
    head_for_request,
    no_agreement,
    not_ours,
    rate,
    resolve,
    send_down,
    send_up,
    sign,
    withdraw,
)
from models.role import Force

NOTE_FLOW = "request_note"


class NoteStep(StrEnum):
    """The words a step asks for first: what was done, why, or an instruction."""

    PROGRESS = "progress"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    NOT_OURS = "not_ours"
    BACK = "back"
    UP = "up"
    AGREE = "agree"
    NO_AGREEMENT = "no_agreement"
    DELIBERATE = "deliberate"


# Buttons whose step needs words first.
NEEDS_NOTE = {f"req.{step.value}": step for step in NoteStep}
# The steps a note completes (deliberating convenes a meeting instead).
STEPS = {
    NoteStep.PROGRESS: add_progress,
    NoteStep.RESOLVE: resolve,
    NoteStep.ESCALATE: escalate,
    NoteStep.NOT_OURS: not_ours,
    NoteStep.BACK: send_down,
    NoteStep.UP: send_up,
    NoteStep.AGREE: agree,
    NoteStep.NO_AGREEMENT: no_agreement,
}
LONGEST_NOTE = 500


async def pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """A button on a request's card or notice."""
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    action, data = pressed.action, pressed.data
    request = await session.get(Request, data.get("id", 0))
    if request is None:
        return [turn.answer("chat.button_invalid")]
    clock = await clock_for(session, ctx)
    try:
        if action in NEEDS_NOTE:
            step = NEEDS_NOTE[action]
            await turn.begin(NOTE_FLOW, step, {"id": request.id})
            return [turn.answer(f"req.ask_{step.value}", reference=request.reference)]
        if action == "req.take":
            if event.user_id not in await deciders(session, request, clock.today):
                raise Problem("request.not_allowed")
            return [assignment_card(session, request, event.user_id, say)]
        if action == "req.assign" and "days" not in data:
            # Who is chosen; now the deadline.
            return [deadline_card(session, request, event.user_id, say, data)]
        change = await _act(session, request, event.user_id, action, data, clock)
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    return await _told(turn, change, clock)


async def note(turn: Turn, state: Conversation) -> list[Reply]:
    """The words a step asked for; then the step itself."""
    session, event, ctx = turn.session, turn.event, turn.ctx
    text = (event.text or "").strip()
    if not text:
        return [turn.answer("req.note_needed")]
    if len(text) > LONGEST_NOTE:
        return [turn.answer("req.too_long", limit=LONGEST_NOTE)]
    request = await session.get(Request, state.data.get("id", 0))
    if request is not None and state.step == NoteStep.DELIBERATE:
        try:
            replies = await deliberations.convened(turn, request, text)
        except Problem as problem:
            return [turn.answer(problem.key, **problem.params)]  # ask again
        await turn.end()
        return replies
    await turn.end()
    step = STEPS.get(NoteStep(state.step)) if state.step in set(NoteStep) else None
    if request is None or step is None:
        return [turn.answer("chat.button_invalid")]
    clock = await clock_for(session, ctx)
    try:
        change = await step(session, request, event.user_id, text, clock)
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    return await _told(turn, change, clock)


async def _act(
    session: AsyncSession,
    request: Request,
    actor: int,
    action: str,
    data: dict[str, Any],
    clock: Clock,
) -> Change:
    if action == "req.sign":
        return await sign(session, request, actor, clock)
    if action == "req.withdraw":
        return await withdraw(session, request, actor, clock)
    if action == "req.rate":
        return await rate(session, request, actor, Rating(data.get("rating", "")), clock)
    if action == "req.assign":
        days = data.get("days")  # None: the estate's usual limit for the kind
        if "force" in data:
            force = Force(data["force"])
            return await assign(session, request, actor, clock, force=force, days=days)
        if data.get("to") == "head":
            head = await head_for_request(session, request, clock.today)
            if head is None:
                raise Problem("request.no_head")
            return await assign(session, request, actor, clock, head=head, days=days)
        return await assign(session, request, actor, clock, days=days)
    raise Problem("chat.button_invalid")


async def _told(turn: Turn, change: Change, clock: Clock) -> list[Reply]:
    """Confirm the step to whoever took it, then tell everyone else."""
    request = change.request
    done = turn.answer(
        "req.done", reference=request.reference, state=turn.say(f"req.state.{State(request.state)}")
    )
    others = await notices(turn.session, change, desk_for(turn), clock.today)
    # The resident rating their own request hears the closing words, not a bare confirmation.
    if any(r.chat_id == turn.event.user_id and not r.buttons for r in others):
        return others
    return [done, *others]


ACTIONS = ("req.sign", "req.withdraw", "req.rate", "req.take", "req.assign", *NEEDS_NOTE)

FLOW = Flow(
    name=NOTE_FLOW,
    buttons={action: pressed for action in ACTIONS},
    steps=NoteStep,
    on_text=note,
)
