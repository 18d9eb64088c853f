"""The parties' answer, a week on, to "does the mediation agreement hold?"."""

from __future__ import annotations

from handlers.events import Reply, answer
from handlers.flow import Flow
from handlers.speech import voice_of
from handlers.turn import Turn
from models.audit import audit
from models.button import Pressed
from models.mediation import Mediation
from models.request import Request


async def answered(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Record one party's answer; a broken agreement goes back to the mediator."""
    session, event, ctx, say, data = turn.session, turn.event, turn.ctx, turn.say, pressed.data
    mediation = await session.get(Mediation, data.get("id", 0))
    holds = data.get("holds")
    if mediation is None or data.get("side") not in ("filer", "other") or holds not in (1, 0):
        return [answer(event, say("chat.button_invalid"))]
    request = await session.get_one(Request, mediation.request_id)
    if data["side"] == "filer":
        mediation.holds_for_filer = bool(holds)
    else:
        mediation.holds_for_other = bool(holds)
    audit(
        session,
        f"user:{event.user_id}",
        "mediation.follow_up",
        "request",
        request.reference,
        after={"side": data["side"], "holds": bool(holds)},
    )
    replies = [answer(event, say("req.mediation_thanks"))]
    if not holds:
        mediator = await voice_of(session, mediation.mediator_user_id, ctx.default_language)
        text = mediator("req.mediation_broken", reference=request.reference)
        replies.append(Reply(mediation.mediator_user_id, text))
    return replies


FLOW = Flow(name="mediation", buttons={"med.holds": answered})
