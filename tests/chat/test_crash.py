"""Kill the bot with SIGKILL mid-burst, restart it: nothing lost, at most one duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.demo import settled
from bot.sandbox.server import BotApiServer
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed

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


async def _start(runtime: str, url: str, store: Store) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "LINZHANG_DATABASE_URL": str(store.url),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": url,
        "LINZHANG_RUNTIME": runtime,
        "LINZHANG_SEND_OVERALL_PER_SECOND": "400",
        "LINZHANG_SEND_CHAT_PER_SECOND": "50",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
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
    assert duplicates <= 1
    async with store.read() as session:
        rows = list(await session.scalars(select(InboxUpdate)))
    assert len(rows) == len(USERS) and len({r.update_id for r in rows}) == len(USERS)
