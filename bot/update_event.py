"""Translate a framework's Update into a neutral event.

python-telegram-bot and aiogram model updates with the same attribute names (both follow the
Bot API), so one duck-typed translation serves both runtimes.
"""

from __future__ import annotations

from typing import Any

from handlers.events import ChatKind, Incoming, Member, parse_command

JOINED = ("member", "restricted")
OUTSIDE = ("left", "kicked")


def to_event(update: Any, bot_username: str) -> Incoming | None:
    """Return the event an update carries, or None if it is nothing a person did for us."""
    message = update.message
    if message is not None and (message.migrate_to_chat_id or message.migrate_from_chat_id):
        return _migration(update.update_id, message)
    user, chat = _who(update)
    if user is None or chat is None or user.is_bot:
        return None
    base: dict[str, Any] = {
        "update_id": update.update_id,
        "chat_id": chat.id,
        "chat_kind": ChatKind(chat.type),
        "chat_title": chat.title,
        "user_id": user.id,
        "display_name": user.full_name,
        "language_code": user.language_code,
    }
    if update.callback_query is not None:
        query = update.callback_query
        return Incoming(
            **base,
            button=query.data or "",
            callback_id=query.id,
            message_id=query.message.message_id if query.message else None,
        )
    if update.chat_member is not None:
        change = update.chat_member
        if change.old_chat_member.status in OUTSIDE and change.new_chat_member.status in JOINED:
            joined = change.new_chat_member.user
            return Incoming(
                **base, joined=(Member(joined.id, joined.full_name, joined.language_code),)
            )
        return None
    message = update.message
    if message is None:
        return None
    if message.new_chat_members:
        members = tuple(
            Member(m.id, m.full_name, m.language_code)
            for m in message.new_chat_members
            if not m.is_bot
        )
        return Incoming(**base, joined=members) if members else None
    text = message.text or message.caption
    parsed = parse_command(text, bot_username) if text else None
    replied = message.reply_to_message
    return Incoming(
        **base,
        command=parsed[0] if parsed else None,
        args=parsed[1] if parsed else "",
        text=None if parsed else text,
        message_id=message.message_id,
        photo_ids=(message.photo[-1].file_id,) if message.photo else (),
        forwarded=message.forward_origin is not None,
        reply_text=(replied.text or replied.caption) if replied is not None else None,
    )


def press_event(payload: dict[str, Any]) -> Incoming | None:
    """A button press read straight from the stored update: the same event `to_event` makes
    of it, without building the framework's objects first (on election day nearly every update
    is a press, and parsing it cost more than handling it)."""
    query = payload["callback_query"]
    user = query["from"]
    message = query.get("message")
    chat = message.get("chat") if message else None
    if chat is None or user.get("is_bot"):
        return None
    last = user.get("last_name")
    return Incoming(
        update_id=int(payload["update_id"]),
        chat_id=int(chat["id"]),
        chat_kind=ChatKind(chat["type"]),
        chat_title=chat.get("title"),
        user_id=int(user["id"]),
        display_name=f"{user['first_name']} {last}" if last else str(user["first_name"]),
        language_code=user.get("language_code"),
        button=query.get("data") or "",
        callback_id=str(query["id"]),
        message_id=message.get("message_id"),
    )


def _migration(update_id: int, message: Any) -> Incoming:
    """A group's upgrade to a supergroup: Telegram's own word, whoever is named as sender."""
    # The sender may be a person, an anonymous admin's stand-in bot, or nobody at all.
    user = message.from_user
    return Incoming(
        update_id=update_id,
        chat_id=message.chat.id,
        chat_kind=ChatKind(message.chat.type),
        chat_title=message.chat.title,
        user_id=user.id if user is not None else 0,
        display_name=user.full_name if user is not None else "",
        migrated_to=message.migrate_to_chat_id or None,
        migrated_from=message.migrate_from_chat_id or None,
    )


def _who(update: Any) -> tuple[Any, Any]:
    if update.callback_query is not None:
        message = update.callback_query.message
        return update.callback_query.from_user, message.chat if message else None
    if update.chat_member is not None:
        return update.chat_member.from_user, update.chat_member.chat
    if update.message is not None:
        return update.message.from_user, update.message.chat
    return None, None
