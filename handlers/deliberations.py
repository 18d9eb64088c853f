"""Four-party deliberation in chat: the secretary convenes, the parties answer, the decision."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer
from handlers.speech import Voice, voice_of
from models import button, conversation
from models.deliberation import (
    Deliberation,
    answer_invitation,
    attendance,
    convene,
    decide,
    parse_meeting_time,
)
from models.request import Request

RESPONSIBLE = ("branch", "owners_committee", "property", "head")
DECISION_FLOW = "deliberation"


async def convened(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, request: Request, text: str
) -> list[Reply]:
    """The secretary gave the meeting time: invite the four parties."""
    meets_at = parse_meeting_time(text, ctx.today(), ctx.zone)
    meeting, invitations = await convene(session, request, event.user_id, meets_at, ctx.today())
    replies = []
    for invitation in invitations:
        their = await voice_of(session, invitation.user_id, ctx.default_language)
        choices: list[tuple[str, dict[str, object]]] = [
            ("delib.attend", {"id": meeting.id, "attending": yes}) for yes in (True, False)
        ]
        yes, no = button.issue(session, invitation.user_id, invitation.user_id, choices)
        replies.append(
            Reply(
                invitation.user_id,
                their(
                    "delib.invite",
                    reference=request.reference,
                    description=request.description,
                    party=their(f"delib.party.{invitation.party}"),
                    when=their.when(meets_at, ctx.zone),
                ),
                [
                    [
                        Button(their("delib.button_attend"), yes),
                        Button(their("delib.button_absent"), no),
                    ]
                ],
            )
        )
    [record] = button.issue(
        session, event.user_id, event.chat_id, [("delib.decide", {"id": meeting.id})]
    )
    convener = answer(
        event,
        say("delib.convened", reference=request.reference, count=len(invitations)),
        [[Button(say("delib.button_decide"), record)]],
    )
    return [convener, *replies]


async def pressed(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    say: Voice,
    action: str,
    data: dict[str, Any],
) -> list[Reply]:
    """A button of a deliberation: attend or not, record the decision, who is responsible."""
    if action == "delib.attend":
        return await attend(session, event, say, data)
    if action == "delib.responsible":
        return await decided(session, event, ctx, say, data)
    meeting, replies = await ask_decision(session, event, say, data)
    if meeting is not None:
        await conversation.begin(
            session, event.chat_id, event.user_id, DECISION_FLOW, "decision", {"id": meeting.id}
        )
    return replies


async def attend(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    meeting = await session.get(Deliberation, data.get("id", 0))
    if meeting is None:
        return [answer(event, say("chat.button_invalid"))]
    await answer_invitation(session, meeting, event.user_id, bool(data.get("attending")))
    return [
        answer(
            event, say("delib.thanks_attend" if data.get("attending") else "delib.thanks_absent")
        )
    ]


async def ask_decision(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, Any]
) -> tuple[Deliberation | None, list[Reply]]:
    """The convener presses "record the decision": ask for it, with attendance so far."""
    meeting = await session.get(Deliberation, data.get("id", 0))
    if meeting is None or meeting.convened_by != event.user_id:
        return None, [answer(event, say("chat.button_invalid"))]
    answers = await attendance(session, meeting.id)
    summary = say(
        "delib.ask_decision",
        attending=sum(1 for a in answers if a.attending),
        absent=sum(1 for a in answers if a.attending is False),
        silent=sum(1 for a in answers if a.attending is None),
    )
    return meeting, [answer(event, summary)]


async def decision_written(
    session: AsyncSession, event: Incoming, say: Voice, meeting_id: int, text: str
) -> list[Reply]:
    """Ask who carries the decision out; the decision rides on the buttons' server-side data."""
    meeting = await session.get(Deliberation, meeting_id)
    if meeting is None or meeting.convened_by != event.user_id or meeting.decided_at:
        return [answer(event, say("chat.button_invalid"))]
    choices: list[tuple[str, dict[str, object]]] = [
        ("delib.responsible", {"id": meeting_id, "decision": text, "responsible": who})
        for who in RESPONSIBLE
    ]
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    buttons = [
        Button(say(f"delib.responsible.{who}"), token)
        for who, token in zip(RESPONSIBLE, tokens, strict=True)
    ]
    return [answer(event, say("delib.ask_responsible"), [buttons[:2], buttons[2:]])]


async def decided(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, Any]
) -> list[Reply]:
    """Record the decision and who is responsible; tell the resident and the parties."""
    meeting = await session.get(Deliberation, data.get("id", 0))
    responsible = data.get("responsible")
    if meeting is None or responsible not in RESPONSIBLE:
        return [answer(event, say("chat.button_invalid"))]
    request = await session.get_one(Request, meeting.request_id)
    decision = str(data.get("decision", ""))
    await decide(session, meeting, request, event.user_id, decision, responsible)
    told = {request.filed_by, *(a.user_id for a in await attendance(session, meeting.id))}
    replies = [answer(event, say("delib.recorded", reference=request.reference))]
    for user in told - {event.user_id}:
        their = await voice_of(session, user, ctx.default_language)
        replies.append(
            Reply(
                user,
                their(
                    "delib.decision",
                    reference=request.reference,
                    decision=decision,
                    responsible=their(f"delib.responsible.{responsible}"),
                ),
            )
        )
    return replies
