"""Registration: `/start <payload>` from a contact card, consent, binding, and the household's say.

A card (or a photo of one) is all it takes to bind, so the household's members hear of each
newcomer at once and can answer "not from our household".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.batch import Batch, alone
from handlers.context import Context
from handlers.events import Button, Incoming, Reply
from handlers.flow import Command, Flow, Where
from handlers.households import Head, head_line, household_label
from handlers.speech import voice_of
from handlers.turn import Turn
from models import button
from models.base import utcnow
from models.button import Pressed
from models.contact_card import card_for, card_for_many, heads_of_groups
from models.conversation import Conversation
from models.membership import bind, members, members_of
from models.person import Resident
from models.registry import Household

NAME = "registration"


class Step(StrEnum):
    CONSENT = "consent"


async def start(turn: Turn) -> list[Reply]:
    """Answer /start: explain cards, or begin registering for the card's household."""
    payload = turn.event.args.strip()
    if not payload:
        return [turn.answer("chat.start_no_card")]
    read: Consents = turn.batch.prefetched.get(NAME) or Consents()
    card = await read.card(turn.session, payload, turn.event.user_id)
    if card is None:
        return [turn.answer("chat.start_unknown_card")]
    household, bound = card
    if bound:
        label = await household_label(turn.session, household, turn.batch.names)
        return [turn.answer("chat.already_registered", household=label)]
    await turn.begin(NAME, Step.CONSENT, {"household_id": household.id})
    return [await ask_consent(turn, household)]


async def ask_consent(turn: Turn, household: Household) -> Reply:
    """Explain what is stored, why and who sees it, with agree and decline buttons."""
    buttons = turn.buttons(
        [
            ("chat.consent_agree", "consent.agree", {"household_id": household.id}),
            ("chat.consent_decline", "consent.decline", {}),
        ]
    )
    label = await household_label(turn.session, household, turn.batch.names)
    return turn.answer("chat.consent", [buttons], household=label)


async def reask(turn: Turn, state: Conversation) -> list[Reply]:
    """Text while consent is asked: ask again, with the buttons."""
    household = await turn.session.get(Household, state.data.get("household_id", 0))
    if household is None or household.removed_at is not None:
        await turn.end()
        return [turn.answer("chat.start_unknown_card")]
    return [turn.answer("chat.consent_pending"), await ask_consent(turn, household)]


async def agree(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Bind the person to the household they consented for; tell its other members."""
    session, event, say, ctx = turn.session, turn.event, turn.say, turn.ctx
    state = await turn.conversation()
    household_id = pressed.data.get("household_id")
    if state is None or state.flow != NAME or state.data.get("household_id") != household_id:
        return [turn.answer("chat.button_invalid")]
    read: Consents = turn.batch.prefetched.get(NAME) or Consents()
    household = await read.household(session, household_id)
    if household is None or household.removed_at is not None:
        await turn.end()
        return [turn.answer("chat.start_unknown_card")]
    # Everything read first, then written: the writes go in with one flush.
    others = [u for u in await read.members(session, household.id) if u != event.user_id]
    label = await household_label(session, household, turn.batch.names)
    head = await head_line(session, household, ctx.today(), say, read.group_heads)
    person = await turn.batch.person_or_new(event.user_id)
    resident = bind(session, household, person)
    await turn.end()
    # One message: registered, and (for someone the estate does not know by name yet) how
    # they would like to be called, with the choices as buttons.
    text = say("chat.registered", household=label, head=head)
    buttons = await _ask_name(turn, household)
    if buttons:
        text += "\n\n" + say("chat.ask_name")
    replies = [turn.answer_text(text, buttons)]
    if others:
        await session.flush()  # the members' refusal buttons name the new binding
    for member in others:
        replies.append(await _tell_member(session, event, ctx, member, resident, label))
    return replies


async def _ask_name(turn: Turn, household: Household) -> list[list[Button]]:
    """The choices of name for a person the estate does not know by name yet."""
    session, event, say = turn.session, turn.event, turn.say
    person = await turn.batch.person(event.user_id)
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
    return [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)]


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


@dataclass
class Consents:
    """What a batch's registrations will read (the cards of its /start, the households of its
    presses of "agree"), read for all of them at once."""

    households: dict[int, Household] = field(default_factory=dict)
    residents: dict[int, list[int]] = field(default_factory=dict)
    group_heads: dict[int, Head | None] = field(default_factory=dict)
    cards: dict[tuple[str, int], tuple[Household, bool] | None] = field(default_factory=dict)

    async def card(
        self, session: AsyncSession, payload: str, user_id: int
    ) -> tuple[Household, bool] | None:
        if (payload, user_id) in self.cards:
            return self.cards[(payload, user_id)]
        return await card_for(session, payload, user_id)

    async def household(self, session: AsyncSession, household_id: object) -> Household | None:
        if isinstance(household_id, int) and household_id in self.households:
            return self.households[household_id]
        return await session.get(Household, household_id) if isinstance(household_id, int) else None

    async def members(self, session: AsyncSession, household_id: int) -> list[int]:
        if household_id in self.residents:
            return self.residents[household_id]
        return await members(session, household_id)


async def prefetch(batch: Batch, events: Sequence[Incoming]) -> None:
    """For the batch's /start with a card: the cards; for its presses in a registration under
    way: households, members, heads."""
    # Only for people with nothing else in the batch; theirs are read as they come.
    once = alone(events)
    asked = {
        (event.args.strip(), event.user_id)
        for event in events
        if event.command == "start" and event.user_id in once and event.args.strip()
    }
    cards = await card_for_many(batch.session, asked) if asked else {}
    wanted = set()
    for event in events:
        state = batch.conversations.held(event.chat_id, event.user_id)
        if event.button is not None and state is not None and state.flow == NAME:
            household_id = state.data.get("household_id")
            if isinstance(household_id, int):
                wanted.add(household_id)
    if not wanted:
        if cards:
            batch.prefetched[NAME] = Consents(cards=cards)
        return
    session = batch.session
    households = {
        h.id: h for h in await session.scalars(select(Household).where(Household.id.in_(wanted)))
    }
    groups = {h.neighbour_group_id for h in households.values()}
    heads = await heads_of_groups(session, groups, batch.today)
    # A group without a head is known to have none.
    batch.prefetched[NAME] = Consents(
        households,
        await members_of(session, set(households)),
        {g: heads.get(g) for g in groups},
        cards,
    )


async def decline(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Forget the registration attempt; nothing about the person is kept."""
    await turn.end()
    return [turn.answer("chat.consent_declined")]


FLOW = Flow(
    name=NAME,
    commands=(Command("start", start, where=Where.PRIVATE, rank=0),),
    buttons={"consent.agree": agree, "consent.decline": decline},
    steps=Step,
    on_text=reask,
    prefetch=prefetch,
)
