"""Route one incoming event to its flow, checking every time who may do what."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import (
    account,
    deliberations,
    group,
    mediation,
    membership,
    migration,
    profile,
    queues,
    registration,
    request_actions,
    requests,
)
from handlers.context import Context
from handlers.events import Incoming, Reply, answer, toast
from handlers.speech import Voice, voice_for
from models import button, conversation, known
from models.person import Person, prefetch_bindings
from models.role import prefetch_held

# Telegram caps a message at 4096 characters; anything longer is not a command we know.
LONGEST_INPUT = 4096


async def prefetch(session: AsyncSession, events: list[Incoming]) -> None:
    """Look up, for a batch of events at once, what handling each of them asks first."""
    await known.load(session, Person, {event.user_id for event in events})
    await known.load(
        session,
        conversation.Conversation,
        {(event.chat_id, event.user_id) for event in events if not event.joined},
    )
    # Registration asks whether someone already lives there; /help and /me, what they hold.
    starting = {e.user_id for e in events if e.command == "start" and e.args and not e.in_group}
    await prefetch_bindings(session, starting)
    await prefetch_held(
        session, {e.user_id for e in events if e.command in ("help", "me", "my", "tasks")}
    )


async def handle(session: AsyncSession, event: Incoming, ctx: Context) -> list[Reply]:
    """Handle one event inside the caller's transaction; return what to send."""
    if event.migration is not None:
        return await migration.migrated(session, event)
    if event.joined:
        return await group.welcome(session, event, ctx)
    say = await voice_for(session, event, ctx)
    if event.button is not None:
        return await _pressed(session, event, ctx, say)
    if event.command is not None:
        if event.forwarded:
            return [answer(event, say("chat.forwarded"))] if not event.in_group else []
        return await _command(session, event, ctx, say)
    if event.text is not None or event.photo_ids:
        return await _text(session, event, ctx, say)
    return []


async def _command(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    match event.command:
        case "start" if event.args.strip() == requests.START_PAYLOAD and not event.in_group:
            return await requests.begin(session, event, ctx, say)
        case "start":
            return await registration.start(session, event, ctx, say)
        case "request":
            return await requests.command(session, event, ctx, say)
        case "my" | "tasks" | "queue" if event.in_group:
            # Lists name people and rooms: never shown in a group.
            return [answer(event, say("req.private_only", link=ctx.link()))]
        case "my":
            return await queues.my(session, event, ctx, say)
        case "tasks":
            return await queues.tasks(session, event, ctx, say)
        case "queue":
            return await queues.queue(session, event, ctx, say)
        case "me":
            return await account.me(session, event, ctx, say)
        case "help":
            return await account.help_(session, event, ctx, say)
        case "lang":
            return await account.lang(session, event, ctx, say)
        case "cancel":
            return await account.cancel(session, event, say)
        case "bind":
            return await group.bind(session, event, ctx, say)
    if event.in_group:
        return []  # other bots' commands in a group are not ours to answer
    return [answer(event, say("chat.unknown_command"))]


async def _pressed(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Resolve a button's token for this person in this chat; refuse anything else."""
    token = (event.button or "").removeprefix("t:")
    pressed = await button.redeem(session, token, event.user_id, event.chat_id)
    if pressed is None:
        return [toast(event, say("chat.button_invalid"))]
    replies: list[Reply]
    match pressed.action:
        case "consent.agree":
            replies = await registration.agree(session, event, ctx, say, pressed.data)
        case "consent.decline":
            replies = await registration.decline(session, event, say)
        case "lang.set":
            say, replies = await account.set_lang(session, event, pressed.data)
        case "req.kind":
            replies = await requests.chose_kind(session, event, say, pressed.data)
        case "req.submit":
            replies = await requests.submit(session, event, ctx, say)
        case "req.cancel":
            replies = await requests.cancel(session, event, say)
        case "req.follow":
            replies = await requests.follow(session, event, say, pressed.data)
        case "req.skip_other":
            replies = await requests.skip_other(session, event, ctx, say)
        case "req.for_self":
            replies = await requests.for_self(session, event, say)
        case "req.for_household":
            replies = await requests.choose_household(session, event, ctx, say, pressed.data)
        case "req.household":
            replies = await requests.chose_household(session, event, ctx, say, pressed.data)
        case "member.refuse":
            replies = await membership.refused(session, event, ctx, say, pressed.data)
        case "profile.name":
            replies = await profile.name_chosen(session, event, say, pressed.data)
        case "profile.type_name":
            replies = await profile.type_name(session, event, say)
        case "profile.phone":
            replies = await profile.ask_phone(session, event, say)
        case "profile.phone_card":
            replies = await profile.phone_decided(session, event, say, pressed.data)
        case "profile.leave":
            replies = await membership.ask_leave(session, event, say, pressed.data)
        case "profile.leave_yes":
            replies = await membership.leave(session, event, ctx, say, pressed.data)
        case "profile.leave_no":
            replies = await membership.stay(event, say)
        case "med.holds":
            replies = await mediation.answered(session, event, ctx, say, pressed.data)
        case action if action.startswith("delib."):
            replies = await deliberations.pressed(session, event, ctx, say, action, pressed.data)
        case action if action.startswith("req."):
            replies = await request_actions.pressed(session, event, ctx, say, action, pressed.data)
        case _:
            return [toast(event, say("chat.button_invalid"))]
    if any(reply.callback_id is not None for reply in replies):
        return replies
    return [toast(event, ""), *replies]


async def _text(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    """Text outside a command: the answer to the current question, or a pointer to /help."""
    state = await conversation.current(session, event.chat_id, event.user_id)
    if state is not None and state.flow == registration.FLOW:
        return await registration.reask(session, event, say, state.data)
    if state is not None and state.flow == requests.FLOW:
        return await requests.step(session, event, ctx, say, state)
    if state is not None and state.flow == profile.FLOW and event.text:
        return await profile.step(session, event, say, state)
    if state is not None and state.flow == request_actions.NOTE_FLOW:
        return await request_actions.note(session, event, ctx, say, state)
    if state is not None and state.flow == deliberations.DECISION_FLOW and event.text:
        await conversation.end(session, event.chat_id, event.user_id)
        text = event.text.strip()[: request_actions.LONGEST_NOTE]
        meeting = state.data.get("id", 0)
        return await deliberations.decision_written(session, event, say, meeting, text)
    if event.in_group:
        return []  # neighbours talk among themselves; the bot stays out of it
    if event.text is not None and len(event.text) > LONGEST_INPUT:
        return [answer(event, say("chat.too_long"))]
    return [answer(event, say("chat.unexpected_text"))]
