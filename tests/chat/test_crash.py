"""Kill the bot with SIGKILL mid-burst, its window of calls full, restart it: nothing lost, at
most the calls that were in flight sent twice, every send on record."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.demo import settled
from bot.sandbox.server import BotApiServer, Latency
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed
from tests.chat.sending import bot_process

USERS = range(5001, 5301)  # 300 residents each sending /help
NOTICES = range(6001, 6101)  # 100 notices already waiting in the outbox


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[BotApiServer, Store, str]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for user in (*USERS, *NOTICES):
        server.add_user(user, f"居民{user}")
    database = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    store = Store(database)
    await upgrade(store)
    await seed(store)
    async with store.write() as session:
        enqueue(session, [Reply(chat, f"通知 {chat}") for chat in NOTICES], None)
    yield server, store, url
    await server.stop()
    await store.dispose()


IN_FLIGHT = 8


async def _start(runtime: str, url: str, store: Store) -> asyncio.subprocess.Process:
    return await bot_process(
        {
            "LINZHANG_DATABASE_URL": str(store.url),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": url,
            "LINZHANG_RUNTIME": runtime,
            "LINZHANG_SEND_OVERALL_PER_SECOND": "400",
            "LINZHANG_SEND_CHAT_PER_SECOND": "50",
            "LINZHANG_SEND_IN_FLIGHT": str(IN_FLIGHT),
        }
    )


async def _settled(server: BotApiServer, store: Store) -> bool:
    if not await settled(server, store):
        return False
    async with store.read() as session:
        stored = await session.scalar(select(func.count()).select_from(InboxUpdate))
    return stored == len(USERS)


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_sigkill_mid_burst_loses_nothing(
    world: tuple[BotApiServer, Store, str], runtime: str
) -> None:
    server, store, url = world
    # A network round trip: the window of calls is full when the kill comes.
    server.latency = Latency(rtt=0.1, jitter=0.01)
    for user in USERS:
        await server.send_text(user, "/help")
    bot = await _start(runtime, url, store)
    # Let it get going, then kill it without warning while it still has work in hand.
    await server.wait_total(60, timeout=60)
    bot.send_signal(signal.SIGKILL)
    await bot.wait()
    assert len(server.sent) < len(USERS) + len(NOTICES), "the bot finished before it was killed"

    bot = await _start(runtime, url, store)
    try:
        async with asyncio.timeout(120):
            while not await _settled(server, store):
                await asyncio.sleep(0.2)
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 30)

    per_chat = Counter(sent.chat_id for sent in server.sent)
    assert set(per_chat) == {*USERS, *NOTICES}, "every update answered, every notice delivered"
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= IN_FLIGHT
    # Every message is on record as sent, with the id of the message the server made.
    async with store.read() as session:
        outbox = list(await session.scalars(select(OutboxMessage)))
    assert outbox and all(row.sent_at and row.message_id for row in outbox)
    async with store.read() as session:
        rows = list(await session.scalars(select(InboxUpdate)))
    assert len(rows) == len(USERS) and len({r.update_id for r in rows}) == len(USERS)
