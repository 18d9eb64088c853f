"""Registration: `/start <payload>` from a contact card, consent, binding, and the household's say.

A card (or a photo of one) is all it takes to bind, so the household's members hear of each
newcomer at once and can answer "not from our household".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer
from handlers.households import head_line, household_label
from handlers.speech import Voice, voice_of
from models import button, conversation
from models.base import utcnow
from models.contact_card import household_for_payload
from models.known import find
from models.membership import bind
from models.person import Person, Resident, bindings
from models.registry import Household

FLOW = "registration"
CONSENT = "consent"


async def start(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Answer /start: explain cards, or begin registering for the card's household."""
    if event.in_group:
        return [answer(event, say("chat.start_in_group", link=ctx.link()))]
    payload = event.args.strip()
    if not payload:
        return [answer(event, say("chat.start_no_card"))]
    household = await household_for_payload(session, payload)
    if household is None:
        return [answer(event, say("chat.start_unknown_card"))]
    if await _resident(session, household.id, event.user_id) is not None:
        label = await household_label(session, household)
        return [answer(event, say("chat.already_registered", household=label))]
    await conversation.begin(
        session, event.chat_id, event.user_id, FLOW, CONSENT, {"household_id": household.id}
    )
    return [await ask_consent(session, event, household, say)]


async def ask_consent(
    session: AsyncSession, event: Incoming, household: Household, say: Voice
) -> Reply:
    """Explain what is stored, why and who sees it, with agree and decline buttons."""
    agree, decline = button.issue(
        session,
        event.user_id,
        event.chat_id,
        [("consent.agree", {"household_id": household.id}), ("consent.decline", {})],
    )
    label = await household_label(session, household)
    return answer(
        event,
        say("chat.consent", household=label),
        [[Button(say("chat.consent_agree"), agree), Button(say("chat.consent_decline"), decline)]],
    )


async def reask(
    session: AsyncSession, event: Incoming, say: Voice, data: dict[str, int]
) -> list[Reply]:
    household = await session.get(Household, data.get("household_id", 0))
    if household is None or household.removed_at is not None:
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("chat.start_unknown_card"))]
    return [
        answer(event, say("chat.consent_pending")),
        await ask_consent(session, event, household, say),
    ]


async def agree(
    session: AsyncSession, event: Incoming, ctx: Context, say: Voice, data: dict[str, int]
) -> list[Reply]:
    """Bind the person to the household they consented for; tell its other members."""
    state = await conversation.current(session, event.chat_id, event.user_id)
    household_id = data.get("household_id")
    if state is None or state.flow != FLOW or state.data.get("household_id") != household_id:
        return [answer(event, say("chat.button_invalid"))]
    household = await session.get(Household, household_id)
    if household is None or household.removed_at is not None:
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("chat.start_unknown_card"))]
    resident, others = await bind(session, household, event.user_id)
    await conversation.end(session, event.chat_id, event.user_id)
    label = await household_label(session, household)
    head = await head_line(session, household, ctx.today(), say)
    registered = answer(event, say("chat.registered", household=label, head=head))
    replies = [registered, *await _ask_name(session, event, household, say)]
    if others:
        await session.flush()  # the members' refusal buttons name the new binding
    for member in others:
        replies.append(await _tell_member(session, event, ctx, member, resident, label))
    return replies


async def _ask_name(
    session: AsyncSession, event: Incoming, household: Household, say: Voice
) -> list[Reply]:
    """Ask how the estate should call a person who has not said yet."""
    person = await find(session, Person, event.user_id)
    if person is not None and person.display_name:
        return []
    choices: list[tuple[str, dict[str, Any]]] = []
    labels = []
    if household.householder:
        choices.append(("profile.name", {"name": household.householder}))
        labels.append(say("chat.name_button_householder", name=household.householder))
    chat_name = " ".join(event.display_name.split())[:32]
    if chat_name:
        choices.append(("profile.name", {"name": chat_name}))
        labels.append(say("chat.name_button_chat", name=chat_name))
    choices.append(("profile.type_name", {}))
    labels.append(say("chat.name_button_type"))
    tokens = button.issue(session, event.user_id, event.chat_id, choices)
    rows = [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)]
    return [answer(event, say("chat.ask_name"), rows)]


async def _tell_member(
    session: AsyncSession,
    event: Incoming,
    ctx: Context,
    member: int,
    newcomer: Resident,
    household: str,
) -> Reply:
    """Tell a member of the household who just bound to it, with a way to refuse them."""
    their = await voice_of(session, member, ctx.default_language)
    chat_name = " ".join(event.display_name.split())[:64]
    [refuse_token] = button.issue(
        session,
        member,
        member,
        [("member.refuse", {"resident": newcomer.id, "chat_name": chat_name})],
    )
    text = their(
        "chat.newcomer_notice",
        when=their.when(utcnow(), ctx.zone),
        chat_name=chat_name,
        household=household,
    )
    return Reply(member, text, [[Button(their("chat.newcomer_refuse"), refuse_token)]])


async def decline(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    """Forget the registration attempt; nothing about the person is kept."""
    await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("chat.consent_declined"))]


async def _resident(session: AsyncSession, household_id: int, user_id: int) -> Resident | None:
    homes = await bindings(session, user_id)
    return next((r for r in homes if r.household_id == household_id), None)
