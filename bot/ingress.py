"""Ingress: updates are stored in the inbox before the server is told they arrived."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable

from aiohttp import web

from bot.transport import RetryAfter, Transient, Transport
from models.inbox import store_updates
from models.store import Store

log = logging.getLogger(__name__)

LONG_POLL = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def poll(
    store: Store, transport: Transport, arrived: Callable[[], None], stop: asyncio.Event
) -> None:
    """Long-poll getUpdates; the next call's offset confirms only what is already stored."""
    offset = 0
    failures = 0
    while not stop.is_set():
        try:
            updates = await transport.get_updates(offset, LONG_POLL, 100)
            failures = 0
        except RetryAfter as error:
            await asyncio.sleep(error.seconds)
            continue
        except (Transient, OSError) as error:
            failures += 1
            log.warning("getUpdates failed (%s); retrying", type(error).__name__)
            await asyncio.sleep(min(30.0, 0.5 * 2**failures))
            continue
        if not updates:
            continue
        async with store.write() as session:
            await store_updates(session, transport.bot_id, updates)
        offset = max(int(u["update_id"]) for u in updates) + 1
        arrived()


def webhook_app(
    store: Store, bot_id: int, secret: str, arrived: Callable[[], None], path: str = "/"
) -> web.Application:
    """An HTTP endpoint that answers 200 only once the update is committed to the inbox."""

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403)
        try:
            update = await request.json()
            int(update["update_id"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return web.Response(status=400)
        async with store.write() as session:
            await store_updates(session, bot_id, [update])
        arrived()
        return web.Response(status=200)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(path, receive)
    return app
