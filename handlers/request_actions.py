"""Acting on a request from its card: sign, progress, resolve, escalate, decide, rate."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import deliberations
from handlers.context import Context
from handlers.events import Incoming, Reply, answer
from handlers.request_cards import assignment_card, deadline_card, notices
from handlers.requests import clock_for, desk_for
from handlers.speech import Voice
from models import conversation
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
# Buttons whose step needs words first: what was done, why, or an instruction.
NEEDS_NOTE = {
    "req.progress": "progress",
    "req.resolve": "resolve",
    "req.escalate": "escalate",
    "req.not_ours": "not_ours",
    "req.back": "back",
    "req.up": "up",
    "req.agree": "agree",
    "req.no_agreement": "no_agreement",
    "req.deliberate": "deliberate",
}
LONGEST_NOTE = 500


async def pressed(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    say: Voice,
    action: str,
    data: dict[str, Any],
) -> list[Reply]:
    """A button on a request's card or notice."""
    request = await session.get(Request, data.get("id", 0))
    if request is None:
        return [answer(event, say("chat.button_invalid"))]
    clock = await clock_for(session, ctx)
    try:
        if action in NEEDS_NOTE:
            step = NEEDS_NOTE[action]
            await conversation.begin(
                session, event.chat_id, event.user_id, NOTE_FLOW, step, {"id": request.id}
            )
            return [answer(event, say(f"req.ask_{step}", reference=request.reference))]
        if action == "req.take":
            if event.user_id not in await deciders(session, request, clock.today):
                raise Problem("request.not_allowed")
            return [assignment_card(session, request, event.user_id, say)]
        if action == "req.assign" and "days" not in data:
            # Who is chosen; now the deadline.
            return [deadline_card(session, request, event.user_id, say, data)]
        change = await _act(session, request, event.user_id, action, data, clock)
    except Problem as problem:
        return [answer(event, say(problem.key, **problem.params))]
    return await _told(session, event, ctx, say, change, clock)


async def note(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    say: Voice,
    state: conversation.Conversation,
) -> list[Reply]:
    """The words a step asked for; then the step itself."""
    text = (event.text or "").strip()
    if not text:
        return [answer(event, say("req.note_needed"))]
    if len(text) > LONGEST_NOTE:
        return [answer(event, say("req.too_long", limit=LONGEST_NOTE))]
    request = await session.get(Request, state.data.get("id", 0))
    if request is not None and state.step == "deliberate":
        try:
            replies = await deliberations.convened(session, event, ctx, say, request, text)
        except Problem as problem:
            return [answer(event, say(problem.key, **problem.params))]  # ask again
        await conversation.end(session, event.chat_id, event.user_id)
        return replies
    await conversation.end(session, event.chat_id, event.user_id)
    if request is None:
        return [answer(event, say("chat.button_invalid"))]
    clock = await clock_for(session, ctx)
    steps = {
        "progress": add_progress,
        "resolve": resolve,
        "escalate": escalate,
        "not_ours": not_ours,
        "back": send_down,
        "up": send_up,
        "agree": agree,
        "no_agreement": no_agreement,
    }
    try:
        change = await steps[state.step](session, request, event.user_id, text, clock)
    except (Problem, KeyError) as problem:
        key = problem.key if isinstance(problem, Problem) else "chat.button_invalid"
        params = problem.params if isinstance(problem, Problem) else {}
        return [answer(event, say(key, **params))]
    return await _told(session, event, ctx, say, change, clock)


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


async def _told(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    say: Voice,
    change: Change,
    clock: Clock,
) -> list[Reply]:
    """Confirm the step to whoever took it, then tell everyone else."""
    request = change.request
    done = say(
        "req.done", reference=request.reference, state=say(f"req.state.{State(request.state)}")
    )
    others = await notices(session, change, desk_for(ctx), clock.today)
    # The resident rating their own request hears the closing words, not a bare confirmation.
    if any(r.chat_id == event.user_id and not r.buttons for r in others):
        return others
    return [answer(event, done), *others]
