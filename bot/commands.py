"""Publish the command menus, localised, per scope."""

from __future__ import annotations

from bot.i18n import LANGUAGES, t
from bot.transport import Transport
from handlers.account import EVERYONE

PRIVATE = EVERYONE
GROUP = ("request", "help", "bind")


async def publish_commands(transport: Transport) -> None:
    """Set the menus for private chats and groups, in Chinese by default and in English."""
    for scope, names in (
        ({"type": "all_private_chats"}, PRIVATE),
        ({"type": "all_group_chats"}, GROUP),
    ):
        for language in LANGUAGES:
            params: dict[str, object] = {
                "commands": [
                    {"command": n, "description": t("command." + n, language)} for n in names
                ],
                "scope": scope,
            }
            if language != "zh_CN":
                params["language_code"] = language[:2]
            await transport.call("setMyCommands", params)
