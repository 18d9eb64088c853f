"""Turn replies into outbox rows, in the transaction of the change that caused them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from models.outbox import OutboxMessage

CALLBACK_PREFIX = "t:"


def enqueue(session: AsyncSession, replies: list[Reply], cause_user_id: int | None) -> None:
    """Add one outbox row per reply."""
    for reply in replies:
        method, params = bot_api_call(reply)
        session.add(
            OutboxMessage(
                chat_id=reply.chat_id,
                is_group=reply.is_group,
                method=method,
                params=params,
                cause_user_id=cause_user_id,
            )
        )


def bot_api_call(reply: Reply) -> tuple[str, dict[str, Any]]:
    """Describe a reply as a Bot API method and its parameters."""
    if reply.callback_id is not None:
        return "answerCallbackQuery", {"callback_query_id": reply.callback_id, "text": reply.text}
    params: dict[str, Any] = {"chat_id": reply.chat_id, "text": reply.text}
    if reply.buttons:
        params["reply_markup"] = {
            "inline_keyboard": [[_button(b) for b in row] for row in reply.buttons]
        }
    if reply.edit_message_id is not None:
        params["message_id"] = reply.edit_message_id
        return "editMessageText", params
    return "sendMessage", params


def _button(button: Button) -> dict[str, str]:
    if button.url is not None:
        return {"text": button.text, "url": button.url}
    assert button.token is not None
    return {"text": button.text, "callback_data": CALLBACK_PREFIX + button.token}
