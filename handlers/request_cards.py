"""What each party hears of a request: cards with buttons for those who act, notices for the rest.

A complainant's name and room appear only on the cards of those handling the request; a group
hears the reference and the step, nothing personal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from handlers.households import BuildingNames, household_label
from handlers.speech import Voice, voice_of
from models import button
from models.estate_settings import mediation_venue
from models.mediation import Mediation, mediation_of
from models.person import Person
from models.privacy import note_access
from models.registry import Household
from models.request import (
    DECIDING,
    WORKING,
    Level,
    Rating,
    Request,
    RequestFollower,
    RequestKind,
    State,
)
from models.request_flow import Change, deciders, household_residents, who_handles, workers
from models.role import Force

# What the resident is told after each step; steps not listed need no word to them.
TOLD = {
    "signed": "req.told_signed",
    "progress": "req.told_progress",
    "resolved": "req.told_resolved",
    "escalated": "req.told_escalated",
    "sent_up": "req.told_escalated",
    "breached": "req.told_breached",
    "returned": "req.told_returned",
    "sent_down": "req.told_sent_down",
    "reopened": "req.told_reopened",
    "confirmed": "req.told_confirmed",
    "closed_unrated": "req.told_closed_unrated",
}


@dataclass(frozen=True)
class Desk:
    """What notices are written with: the local zone, the language for the silent, and the
    building names already read (a batch shares its own)."""

    zone: ZoneInfo
    default_language: str
    names: BuildingNames = field(default_factory=BuildingNames)


async def notices(
    session: AsyncSession,
    change: Change,
    desk: Desk,
    today: date,
    *,
    acting: list[int] | None = None,
) -> list[Reply]:
    """Everything a change makes the bot say: to the resident, the group, who acts next.

    `acting`: who acts next, when the caller has read it already (the deadline scan reads a
    batch's deciders together); else it is read here.
    """
    request = change.request
    replies: list[Reply] = []
    assigned = change.action.startswith("assigned")
    key = "req.told_assigned" if assigned else TOLD.get(change.action)
    if key is not None:
        for user in await _listeners(session, request):
            say = await voice_of(session, user, desk.default_language)
            buttons: list[list[Button]] = []
            if change.action == "resolved" and await _rates(session, request, user):
                buttons = [_rating_buttons(session, request, user, say)]
            replies.append(Reply(user, told(change, key, say), buttons))
    if not request.personal and request.group_chat_id is not None and key is not None:
        group_say = Voice(desk.default_language)
        state = group_say(f"req.state.{request.state}")
        replies.append(
            Reply(
                request.group_chat_id,
                group_say("req.group_progress", reference=request.reference, state=state),
                is_group=True,
            )
        )
    if change.action == "withdrawn":
        for user in await who_handles(session, request, today):
            say = await voice_of(session, user, desk.default_language)
            replies.append(Reply(user, say("req.withdrawn_notice", reference=request.reference)))
    if change.action == "filed" and request.on_behalf:
        replies += await _told_on_behalf(session, request, desk)
    if change.action == "signed" and request.kind == RequestKind.DISPUTE.value:
        replies += await invitations(session, request, desk)
    # The description is on the card already; anything else said with the step is its reason.
    replies += await cards(session, request, desk, today, change=change, acting=acting)
    return replies


def told(change: Change, key: str, say: Voice) -> str:
    """What the resident hears of a step: its words, then why, in a person's words or ours."""
    request = change.request
    level = say(f"req.level.{request.level}")
    params = {"reference": request.reference, "note": change.note, "level": level}
    if change.action.startswith("assigned"):
        params["who"] = _assignee(change.action, level, say)
    if change.action == "breached":
        params["reason"] = reason_text(change, say)
    text = say(key, **params)
    if change.action in ("escalated", "sent_up") and (why := reason_text(change, say)):
        text += "\n" + say("req.told_why", note=why)
    if change.action == "sent_down" and change.note:
        text += "\n" + say("req.told_instruction", note=change.note)
    return text


def reason_text(change: Change, say: Voice) -> str:
    """Why a step happened: the person's own words, else the catalogue's words for the cause."""
    if change.note:
        return change.note
    return say(f"req.reason.{change.reason}") if change.reason else ""


def _assignee(action: str, level: str, say: Voice) -> str:
    to = action.partition(":")[2]
    if to == "head":
        return say("req.assignee.head")
    if to == "self":
        return say("req.assignee.self", level=level)
    return say(f"force.{to}")


def deadline_phrase(request: Request, say: Voice, zone: ZoneInfo) -> str:
    """Which deadline and when: 签收期限：12月4日 18:00."""
    if request.deadline_at is None:
        return say("req.deadline.none")
    step = request.deadline_step if request.deadline_step in _STEPS else "resolve"
    return say(f"req.deadline.{step}", due=say.when(request.deadline_at, zone))


_STEPS = ("sign", "resolve", "decide", "confirm")


async def _told_on_behalf(session: AsyncSession, request: Request, desk: Desk) -> list[Reply]:
    """Tell a household's registered residents that their head filed for them."""
    head = await session.get(Person, request.filed_by)
    replies = []
    for user in await household_residents(session, request.household_id):
        if user == request.filed_by:
            continue
        say = await voice_of(session, user, desk.default_language)
        text = say(
            "req.on_behalf_told",
            head=(head.display_name if head else None) or say("chat.head_unnamed"),
            reference=request.reference,
            kind=say(f"req.kind.{request.kind}"),
            description=request.description,
        )
        replies.append(Reply(user, text))
    return replies


async def cards(
    session: AsyncSession,
    request: Request,
    desk: Desk,
    today: date,
    *,
    change: Change | None = None,
    acting: list[int] | None = None,
) -> list[Reply]:
    """A card with buttons for whoever must act on the request now (`acting`, when known)."""
    state = State(request.state)
    if state in DECIDING:
        people = await deciders(session, request, today) if acting is None else acting
        make = decider_card
    elif state in WORKING:
        people = await workers(session, request, today) if acting is None else acting
        make = worker_card
    else:
        return []
    replies = []
    for user in people:
        say = await voice_of(session, user, desk.default_language)
        # The description is on the card already; anything said with a step is its reason.
        reason = "" if change is None or change.action == "filed" else reason_text(change, say)
        replies.append(await make(session, request, user, say, desk, reason))
        # The card names the resident and their household: a look at personal data, on record.
        note_access(session, f"user:{user}", [request.filed_by], "request_card")
    return replies


async def worker_card(
    session: AsyncSession, request: Request, user: int, say: Voice, desk: Desk, reason: str
) -> Reply:
    """The head's or force member's card: sign first, then progress, resolve or escalate."""
    if State(request.state) is State.SUBMITTED:
        actions = [("req.sign", "req.button_sign"), ("req.escalate", "req.button_escalate")]
        if Level(request.level) is Level.HEAD:
            actions.append(("req.not_ours", "req.button_not_ours"))
    elif (mediation := await mediation_of(session, request.id)) and mediation.outcome is None:
        actions = [
            ("req.agree", "req.button_agree"),
            ("req.no_agreement", "req.button_no_agreement"),
            ("req.progress", "req.button_progress"),
        ]
    else:
        actions = [
            ("req.progress", "req.button_progress"),
            ("req.resolve", "req.button_resolve"),
            ("req.escalate", "req.button_escalate"),
        ]
    tokens = button.issue(session, user, user, [(a, {"id": request.id}) for a, _ in actions])
    row = [Button(say(label), token) for (_, label), token in zip(actions, tokens, strict=True)]
    text = await describe(session, request, say, desk, "req.card_work", reason)
    return Reply(user, text, [row])


async def decider_card(
    session: AsyncSession, request: Request, user: int, say: Voice, desk: Desk, reason: str
) -> Reply:
    """The secretary's (or community's, street's) card: take it, send it back, or send it up."""
    actions = [("req.take", "req.button_take"), ("req.back", "req.button_back")]
    if Level(request.level) is not Level.STREET:
        actions.append(("req.up", "req.button_up"))
    if Level(request.level) is Level.BRANCH:
        actions.append(("req.deliberate", "req.button_deliberate"))
    tokens = button.issue(session, user, user, [(a, {"id": request.id}) for a, _ in actions])
    row = [Button(say(label), token) for (_, label), token in zip(actions, tokens, strict=True)]
    text = await describe(session, request, say, desk, "req.card_decide", reason)
    return Reply(user, text, [row])


def assignment_card(session: AsyncSession, request: Request, user: int, say: Voice) -> Reply:
    """Where the decider may send it: one of the forces, back to the head, or themself."""
    choices: list[tuple[str, dict[str, object]]] = [
        ("req.assign", {"id": request.id, "force": force.value}) for force in Force
    ]
    choices += [
        ("req.assign", {"id": request.id, "to": "head"}),
        ("req.assign", {"id": request.id, "to": "self"}),
    ]
    tokens = button.issue(session, user, user, choices)
    labels = [say(f"force.{force.value}") for force in Force]
    labels += [say("req.button_to_head"), say("req.button_to_self")]
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return Reply(user, say("req.assign_ask", reference=request.reference), rows)


# Working days a decider may give with an assignment; None keeps the estate's usual limit.
DEADLINE_CHOICES = (1, 3, 5, 10, None)


def deadline_card(
    session: AsyncSession, request: Request, user: int, say: Voice, chosen: dict[str, object]
) -> Reply:
    """By when the assignee must resolve it."""
    choices: list[tuple[str, dict[str, object]]] = [
        ("req.assign", {**chosen, "days": days}) for days in DEADLINE_CHOICES
    ]
    tokens = button.issue(session, user, user, choices)
    labels = [
        say("req.button_days", days=days) if days else say("req.button_days_usual")
        for days in DEADLINE_CHOICES
    ]
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    return Reply(
        user, say("req.deadline_ask", reference=request.reference), [buttons[:3], buttons[3:]]
    )


async def describe(
    session: AsyncSession, request: Request, say: Voice, desk: Desk, key: str, reason: str
) -> str:
    """The request as its handlers see it: with the household and the resident's name."""
    household = await session.get_one(Household, request.household_id)
    filer = await session.get(Person, request.filed_by)
    name = (filer.display_name if filer else None) or say("req.resident_unnamed")
    text = say(
        key,
        reference=request.reference,
        kind=say(f"req.kind.{request.kind}"),
        level=say(f"req.level.{request.level}"),
        household=await household_label(session, household, desk.names),
        resident=(household.householder or say("req.resident_unnamed"))
        if request.on_behalf
        else name,
        description=request.description,
        deadline=deadline_phrase(request, say, desk.zone),
    )
    if request.on_behalf:
        text += "\n" + say("req.card_on_behalf", head=name)
    if reason:
        text += "\n" + say("req.card_reason", reason=reason)
    return text


def _rating_buttons(session: AsyncSession, request: Request, user: int, say: Voice) -> list[Button]:
    choices: list[tuple[str, dict[str, object]]] = [
        ("req.rate", {"id": request.id, "rating": r.value}) for r in Rating
    ]
    tokens = button.issue(session, user, user, choices)
    return [
        Button(say(f"req.rating.{r.value}"), token) for r, token in zip(Rating, tokens, strict=True)
    ]


async def _listeners(session: AsyncSession, request: Request) -> list[int]:
    """Who hears of each step: whoever filed it, the neighbours who said "me too", and for a
    request filed on a household's behalf, that household's registered residents."""
    followers = await session.scalars(
        select(RequestFollower.user_id).where(RequestFollower.request_id == request.id)
    )
    people = [request.filed_by, *followers]
    if request.on_behalf:
        people += await household_residents(session, request.household_id)
    return list(dict.fromkeys(people))


async def _rates(session: AsyncSession, request: Request, user: int) -> bool:
    """Whether this listener is asked to rate: the filer, or for a request filed on a household's
    behalf, its residents (and the head who filed it, when none are registered)."""
    if not request.on_behalf:
        return user == request.filed_by
    residents = await household_residents(session, request.household_id)
    return user in residents or (not residents and user == request.filed_by)


async def _parties(session: AsyncSession, request: Request) -> list[tuple[int, str]]:
    """The parties of a dispute and their side: the resident who filed it (for a request filed on
    a household's behalf, that household's residents) and the other household's residents."""
    if request.on_behalf:
        filers = await household_residents(session, request.household_id)
    else:
        filers = [request.filed_by]
    parties = [(user, "filer") for user in filers]
    if request.other_household_id is not None:
        others = await household_residents(session, request.other_household_id)
        parties += [(user, "other") for user in others if user not in filers]
    return parties


async def invitations(session: AsyncSession, request: Request, desk: Desk) -> list[Reply]:
    """Invite both parties and the mediator to the mediation day: when, where and who mediates.
    The parties see no names of each other."""
    mediation = await mediation_of(session, request.id)
    if mediation is None:
        return []
    venue = await mediation_venue(session, request.estate_id)
    parties = [user for user, _ in await _parties(session, request)]
    mediator = await session.get(Person, mediation.mediator_user_id)
    replies = []
    for user in dict.fromkeys([*parties, mediation.mediator_user_id]):
        say = await voice_of(session, user, desk.default_language)
        text = say(
            "req.mediation_invite",
            reference=request.reference,
            day=format_skeleton("MMMEd", mediation.day, locale=say.language),
            time=venue.at.strftime("%H:%M"),
            place=venue.place or say("req.mediation_default_place"),
            mediator=(mediator.display_name if mediator else None) or say("req.mediator_unnamed"),
        )
        replies.append(Reply(user, text))
    return replies


async def follow_up(session: AsyncSession, mediation: Mediation, desk: Desk) -> list[Reply]:
    """A week after an agreement, ask the parties (and only them) whether it holds."""
    request = await session.get_one(Request, mediation.request_id)
    replies = []
    for user, side in await _parties(session, request):
        say = await voice_of(session, user, desk.default_language)
        choices: list[tuple[str, dict[str, object]]] = [
            ("med.holds", {"id": mediation.id, "side": side, "holds": holds})
            for holds in (True, False)
        ]
        yes, no = button.issue(session, user, user, choices)
        text = say("req.mediation_follow_up", reference=request.reference)
        buttons = [Button(say("req.button_holds"), yes), Button(say("req.button_broken"), no)]
        replies.append(Reply(user, text, [buttons]))
    return replies
