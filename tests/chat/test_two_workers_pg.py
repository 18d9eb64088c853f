"""Two bot processes on one PostgreSQL database under a burst: one is killed mid-burst, the other
takes over; every update is handled once and every answer sent once, within the sender's bound."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.demo import settled
from bot.sandbox.server import BotApiServer, Latency
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed
from tests.chat.sending import bot_process

USERS = range(5401, 5701)  # 300 residents, each asking /help
IN_FLIGHT = 8


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[BotApiServer, Store, str]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for user in USERS:
        server.add_user(user, f"居民{user}")
    store = Store(database_url)
    await upgrade(store)
    await seed(store)
    yield server, store, url
    await server.stop()
    await store.dispose()


async def _start(runtime: str, url: str, store: Store) -> asyncio.subprocess.Process:
    return await bot_process(
        {
            "LINZHANG_DATABASE_URL": store.url.render_as_string(hide_password=False),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": url,
            "LINZHANG_RUNTIME": runtime,
            "LINZHANG_SEND_OVERALL_PER_SECOND": "400",
            "LINZHANG_SEND_CHAT_PER_SECOND": "50",
            "LINZHANG_SEND_IN_FLIGHT": str(IN_FLIGHT),
            "LINZHANG_HEALTH_LISTEN": "off",
        }
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_two_workers_one_killed_mid_burst(
    world: tuple[BotApiServer, Store, str], runtime: str
) -> None:
    server, store, url = world
    server.latency = Latency(rtt=0.1, jitter=0.01)
    first = await _start(runtime, url, store)
    # The first leads polling and sending; the second waits for the lead and handles updates.
    async with asyncio.timeout(60):
        while not any(m.lower() == "getupdates" for _, m, _ in server.requests):
            await asyncio.sleep(0.05)
    second = await _start(runtime, url, store)
    for user in USERS:
        await server.send_text(user, "/help")
    await server.wait_total(60, timeout=60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert len(server.sent) < len(USERS), "the burst was over before the kill"
    try:
        async with asyncio.timeout(120):
            while not await settled(server, store):
                await asyncio.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)

    per_chat = Counter(sent.chat_id for sent in server.sent)
    assert set(per_chat) == set(USERS), "every update answered"
    # Only the calls in flight when the leader was killed may have gone twice.
    assert sum(count - 1 for count in per_chat.values()) <= IN_FLIGHT
    async with store.read() as session:
        stored = await session.scalar(select(func.count()).select_from(InboxUpdate))
        ids = await session.scalar(select(func.count(func.distinct(InboxUpdate.update_id))))
        waiting = await session.scalar(
            select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None))
        )
        answers = Counter(await session.scalars(select(OutboxMessage.chat_id)))
    assert stored == ids == len(USERS) and waiting == 0
    # Each update handled once: one answer written for each, whoever handled it.
    assert set(answers.values()) == {1} and set(answers) == set(USERS)
