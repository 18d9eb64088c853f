"""Route one incoming event to its flow, checking every time who may do what."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import account, group, registration
from handlers.context import Context
from handlers.events import Incoming, Reply, answer
from handlers.speech import Voice, voice_for
from models import button, conversation

# Telegram caps a message at 4096 characters; anything longer is not a command we know.
LONGEST_INPUT = 4096


async def handle(session: AsyncSession, event: Incoming, ctx: Context) -> list[Reply]:
    """Handle one event inside the caller's transaction; return what to send."""
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
        return await _text(session, event, say)
    return []


async def _command(session: AsyncSession, event: Incoming, ctx: Context, say: Voice) -> list[Reply]:
    match event.command:
        case "start":
            return await registration.start(session, event, ctx, say)
        case "me":
            return await account.me(session, event, ctx, say)
        case "help":
            return await account.help_(session, event, ctx, say)
        case "lang":
            return await account.lang(session, event, say)
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
        return [_toast(event, say("chat.button_invalid"))]
    replies: list[Reply]
    match pressed.action:
        case "consent.agree":
            replies = await registration.agree(session, event, ctx, say, pressed.data)
        case "consent.decline":
            replies = await registration.decline(session, event, say)
        case "lang.set":
            say, replies = await account.set_lang(session, event, pressed.data)
        case _:
            return [_toast(event, say("chat.button_invalid"))]
    return [_toast(event, ""), *replies]


async def _text(session: AsyncSession, event: Incoming, say: Voice) -> list[Reply]:
    """Text outside a command: the answer to the current question, or a pointer to /help."""
    state = await conversation.current(session, event.chat_id, event.user_id)
    if state is not None and state.flow == registration.FLOW:
        return await registration.reask(session, event, say, state.data)
    if event.in_group:
        return []  # neighbours talk among themselves; the bot stays out of it
    if event.text is not None and len(event.text) > LONGEST_INPUT:
        return [answer(event, say("chat.too_long"))]
    return [answer(event, say("chat.unexpected_text"))]


def _toast(event: Incoming, text: str) -> Reply:
    return Reply(chat_id=event.chat_id, text=text, callback_id=event.callback_id)
