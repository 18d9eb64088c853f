"""Four-party deliberation in chat: the secretary convenes, the parties answer, the decision."""

from __future__ import annotations

from enum import StrEnum

from handlers.events import Button, Reply
from handlers.flow import Flow
from handlers.speech import voice_of
from handlers.turn import Turn
from models import button
from models.button import Pressed
from models.conversation import Conversation
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
NAME = "deliberation"
LONGEST_DECISION = 500


class Step(StrEnum):
    DECISION = "decision"


async def convened(turn: Turn, request: Request, text: str) -> list[Reply]:
    """The secretary gave the meeting time: invite the four parties."""
    session, event, ctx = turn.session, turn.event, turn.ctx
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
    [record] = turn.buttons([("delib.button_decide", "delib.decide", {"id": meeting.id})])
    convener = turn.answer(
        "delib.convened", [[record]], reference=request.reference, count=len(invitations)
    )
    return [convener, *replies]


async def attend(turn: Turn, pressed: Pressed) -> list[Reply]:
    meeting = await turn.session.get(Deliberation, pressed.data.get("id", 0))
    if meeting is None:
        return [turn.answer("chat.button_invalid")]
    attending = bool(pressed.data.get("attending"))
    await answer_invitation(turn.session, meeting, turn.event.user_id, attending)
    return [turn.answer("delib.thanks_attend" if attending else "delib.thanks_absent")]


async def ask_decision(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The convener presses "record the decision": ask for it, with attendance so far."""
    meeting = await turn.session.get(Deliberation, pressed.data.get("id", 0))
    if meeting is None or meeting.convened_by != turn.event.user_id:
        return [turn.answer("chat.button_invalid")]
    answers = await attendance(turn.session, meeting.id)
    await turn.begin(NAME, Step.DECISION, {"id": meeting.id})
    return [
        turn.answer(
            "delib.ask_decision",
            attending=sum(1 for a in answers if a.attending),
            absent=sum(1 for a in answers if a.attending is False),
            silent=sum(1 for a in answers if a.attending is None),
        )
    ]


async def decision_written(turn: Turn, state: Conversation) -> list[Reply]:
    """Ask who carries the decision out; the decision rides on the buttons' server-side data."""
    text = (turn.event.text or "").strip()[:LONGEST_DECISION]
    if not text:
        return [turn.answer("req.note_needed")]
    await turn.end()
    meeting_id = state.data.get("id", 0)
    meeting = await turn.session.get(Deliberation, meeting_id)
    if meeting is None or meeting.convened_by != turn.event.user_id or meeting.decided_at:
        return [turn.answer("chat.button_invalid")]
    buttons = turn.buttons(
        [
            (
                f"delib.responsible.{who}",
                "delib.responsible",
                {"id": meeting_id, "decision": text, "responsible": who},
            )
            for who in RESPONSIBLE
        ]
    )
    return [turn.answer("delib.ask_responsible", [buttons[:2], buttons[2:]])]


async def decided(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Record the decision and who is responsible; tell the resident and the parties."""
    session, event, ctx = turn.session, turn.event, turn.ctx
    meeting = await session.get(Deliberation, pressed.data.get("id", 0))
    responsible = pressed.data.get("responsible")
    if meeting is None or responsible not in RESPONSIBLE:
        return [turn.answer("chat.button_invalid")]
    request = await session.get_one(Request, meeting.request_id)
    decision = str(pressed.data.get("decision", ""))
    await decide(session, meeting, request, event.user_id, decision, responsible)
    told = {request.filed_by, *(a.user_id for a in await attendance(session, meeting.id))}
    replies = [turn.answer("delib.recorded", reference=request.reference)]
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


FLOW = Flow(
    name=NAME,
    buttons={"delib.attend": attend, "delib.decide": ask_decision, "delib.responsible": decided},
    steps=Step,
    on_text=decision_written,
)
