"""Registration: `/start <payload>` from a contact card, consent, then binding to the household."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.events import Button, Incoming, Reply, answer
from handlers.households import head_line, household_label
from handlers.speech import Voice
from models import button, conversation
from models.audit import audit
from models.contact_card import household_for_payload
from models.known import find
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
    """Explain what is stored and why, with agree and decline buttons."""
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
    """Bind the person to the household they consented for."""
    state = await conversation.current(session, event.chat_id, event.user_id)
    household_id = data.get("household_id")
    if state is None or state.flow != FLOW or state.data.get("household_id") != household_id:
        return [answer(event, say("chat.button_invalid"))]
    household = await session.get(Household, household_id)
    if household is None or household.removed_at is not None:
        await conversation.end(session, event.chat_id, event.user_id)
        return [answer(event, say("chat.start_unknown_card"))]
    person = await find(session, Person, event.user_id)
    if person is None:
        person = Person(user_id=event.user_id, display_name=event.display_name[:128])
        session.add(person)
    else:
        person.display_name = event.display_name[:128]
    resident = Resident(household_id=household.id, user_id=event.user_id)
    session.add(resident)
    audit(
        session,
        f"user:{event.user_id}",
        "resident.bind",
        "resident",
        resident,
        after={"household_id": household.id, "user_id": event.user_id},
    )
    await conversation.end(session, event.chat_id, event.user_id)
    label = await household_label(session, household)
    head = await head_line(session, household, ctx.today(), say)
    return [answer(event, say("chat.registered", household=label, head=head))]


async def decline(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    """Forget the registration attempt; nothing about the person is kept."""
    await conversation.end(session, event.chat_id, event.user_id)
    return [answer(event, say("chat.consent_declined"))]


async def _resident(session: AsyncSession, household_id: int, user_id: int) -> Resident | None:
    homes = await bindings(session, user_id)
    return next((r for r in homes if r.household_id == household_id), None)
