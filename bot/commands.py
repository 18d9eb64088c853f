"""Publish the command menus, localised: per scope, and per person for the roles they hold."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date

from sqlalchemy import delete, select

from bot.transport import Permanent, RetryAfter, Transient, Transport
from handlers.flow import Where
from handlers.router import Router
from models.base import utcnow
from models.command_menu import PublishedMenu
from models.store import Store
from texts import LANGUAGES, t

log = logging.getLogger(__name__)

# Telegram's limits for these calls are not published; stay far below the message limit.
MENU_CALLS_PER_SECOND = 10


async def publish_commands(transport: Transport, router: Router) -> None:
    """Set the menus for private chats and groups, in Chinese by default and in English."""
    private = [c.name for c in router.commands_for(set(), Where.PRIVATE)]
    # A group's menu shows every command that works there; each checks who may use it.
    group = [c.name for c in router.commands.values() if c.where is not Where.PRIVATE]
    await _set(transport, {"type": "all_private_chats"}, private)
    await _set(transport, {"type": "all_group_chats"}, sorted(group, key=_rank(router)))


async def publish_personal_menus(
    store: Store, transport: Transport, today: date, router: Router
) -> int:
    """Give heads, secretaries and staff their extra commands; take them from those who left.

    Only what changed since the last run is sent. A person who never opened a chat with the bot
    has no chat to put a menu in (Telegram: chat not found); that is recorded and not retried,
    since /help always lists the same commands.
    """
    async with store.read() as session:
        wanted = await router.personal_menus(session, today)
        published = {m.user_id: m.commands for m in await session.scalars(select(PublishedMenu))}
    changes = 0
    for user, commands in wanted.items():
        if published.get(user) == ",".join(commands):
            continue
        if not await _call(_set(transport, _chat(user), commands)):
            continue
        async with store.write() as session:
            row = await session.get(PublishedMenu, user)
            if row is None:
                session.add(PublishedMenu(user_id=user, commands=",".join(commands)))
            else:
                row.commands, row.published_at = ",".join(commands), utcnow()
        changes += 1
    for user in set(published) - set(wanted):
        if not await _call(_delete(transport, _chat(user))):
            continue
        async with store.write() as session:
            await session.execute(delete(PublishedMenu).where(PublishedMenu.user_id == user))
        changes += 1
    return changes


async def _call(calls: Awaitable[None]) -> bool:
    """Run one person's menu calls; False when they should be tried again next time."""
    try:
        await calls
    except Permanent as error:
        log.info("menu not published: %s", error)
    except RetryAfter as error:
        await asyncio.sleep(error.seconds)
        return False
    except Transient as error:
        log.warning("menu publishing failed, will retry: %s", error)
        return False
    await asyncio.sleep(len(LANGUAGES) / MENU_CALLS_PER_SECOND)
    return True


def _rank(router: Router) -> Callable[[str], int]:
    return lambda name: router.commands[name].rank


def _chat(user: int) -> dict[str, object]:
    return {"type": "chat", "chat_id": user}


async def _set(transport: Transport, scope: dict[str, object], names: list[str]) -> None:
    for language in LANGUAGES:
        params: dict[str, object] = {
            "commands": [{"command": n, "description": t("command." + n, language)} for n in names],
            "scope": scope,
        }
        if language != "zh_CN":
            params["language_code"] = language[:2]
        await transport.call("setMyCommands", params)


async def _delete(transport: Transport, scope: dict[str, object]) -> None:
    for language in LANGUAGES:
        params: dict[str, object] = {"scope": scope}
        if language != "zh_CN":
            params["language_code"] = language[:2]
        await transport.call("deleteMyCommands", params)
