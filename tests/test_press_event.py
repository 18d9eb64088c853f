"""A button press read straight from the stored update is the event the framework's parse
gives: in a group and in private, with and without a last name or a language."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot, Update

from bot.update_event import press_event, to_event

GROUP_CHAT = {"id": -100123, "type": "supergroup", "title": "芙蓉花园1栋业主群"}
PRIVATE_CHAT = {"id": 110101, "type": "private", "first_name": "居民"}


def _press(user: dict[str, Any], chat: dict[str, Any] | None) -> dict[str, Any]:
    query: dict[str, Any] = {"id": "77", "from": user, "chat_instance": "1", "data": "t:.abc"}
    if chat is not None:
        query["message"] = {
            "message_id": 9,
            "date": 1764720000,
            "chat": chat,
            "from": {"id": 4242, "is_bot": True, "first_name": "Bot"},
            "text": "选票",
        }
    else:
        query["inline_message_id"] = "inline"
    return {"update_id": 31, "callback_query": query}


@pytest.mark.parametrize(
    ("user", "chat"),
    [
        ({"id": 110101, "is_bot": False, "first_name": "居民"}, GROUP_CHAT),
        ({"id": 110101, "is_bot": False, "first_name": "Li", "last_name": "Wei"}, PRIVATE_CHAT),
        ({"id": 110101, "is_bot": False, "first_name": "Li", "language_code": "en"}, GROUP_CHAT),
        ({"id": 4243, "is_bot": True, "first_name": "Other bot"}, GROUP_CHAT),
        ({"id": 110101, "is_bot": False, "first_name": "居民"}, None),
    ],
)
def test_a_press_read_from_the_stored_update_is_the_parsed_one(
    user: dict[str, Any], chat: dict[str, Any] | None
) -> None:
    payload = _press(user, chat)
    parsed = to_event(Update.de_json(payload, Bot("4242:TOKEN")), "LinzhangTestBot")
    assert press_event(payload) == parsed
