"""Turn replies into outbox rows, in the transaction of the change that caused them."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from models.base import utcnow
from models.outbox import CALLBACK_ANSWER, OutboxMessage
from models.rows import rows_of

CALLBACK_PREFIX = "t:"
MAX_TEXT = 4096


def enqueue(
    session: AsyncSession,
    replies: list[Reply],
    cause_user_id: int | None,
    answering: int | None = None,
) -> None:
    """Add the replies to the transaction's outbox rows, a long text split over several.

    `answering`: the chat a person acted in; replies there (and answers to a button press)
    are the answer to their own action, sent before any push that waits.
    """
    rows = rows_of(session)
    for row in outbox_rows(replies, cause_user_id, answering):
        rows.add(OutboxMessage, row, version_key(row))


def outbox_rows(
    replies: list[Reply], cause_user_id: int | None, answering: int | None = None
) -> list[dict[str, Any]]:
    """Describe the outbox rows of some replies."""
    rows = []
    now = utcnow()
    for reply in replies:
        for part in split(reply):
            method, params = bot_api_call(part)
            rows.append(
                {
                    "chat_id": part.chat_id,
                    "is_group": part.is_group,
                    "method": method,
                    "params": params,
                    "cause_user_id": cause_user_id,
                    "urgent": part.callback_id is not None or part.chat_id == answering,
                    "edit_key": part.edit_key,
                    "secret": part.secret,
                    "not_before": part.not_before,
                    "created_at": now,
                    "attempts": 0,
                }
            )
    return rows


def version_key(row: dict[str, Any]) -> tuple[int, str] | None:
    """What a row is a version of, for a message the bot keeps editing: of several versions
    written in one transaction only the newest is kept (the database keeps the newest only
    across transactions)."""
    if row["edit_key"] is None or row["method"] == CALLBACK_ANSWER:
        return None
    return row["chat_id"], row["edit_key"]


def split(reply: Reply) -> list[Reply]:
    """Cut a text over Telegram's limit at line breaks; the buttons go with the last part."""
    if len(reply.text) <= MAX_TEXT or reply.callback_id is not None or reply.photo is not None:
        return [reply]
    if reply.edit_message_id is not None:
        return [replace(reply, text=reply.text[: MAX_TEXT - 1] + "…")]
    parts: list[str] = []
    rest = reply.text
    while len(rest) > MAX_TEXT:
        cut = rest.rfind("\n", 0, MAX_TEXT)
        cut = cut if cut > MAX_TEXT // 2 else MAX_TEXT
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    last = len(parts) - 1
    return [
        replace(reply, text=text, buttons=reply.buttons if i == last else [])
        for i, text in enumerate(parts)
    ]


def bot_api_call(reply: Reply) -> tuple[str, dict[str, Any]]:
    """Describe a reply as a Bot API method and its parameters."""
    if reply.callback_id is not None:
        toast: dict[str, Any] = {"callback_query_id": reply.callback_id, "text": reply.text}
        return "answerCallbackQuery", {**toast, "show_alert": True} if reply.secret else toast
    if reply.photo is not None:
        # Stored as text like every parameter; the adapter uploads the bytes.
        upload = {"upload": base64.b64encode(reply.photo).decode(), "filename": "chart.png"}
        return "sendPhoto", {"chat_id": reply.chat_id, "photo": upload, "caption": reply.text}
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
