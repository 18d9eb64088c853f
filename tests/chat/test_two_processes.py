"""Two bot processes on one database: one polls and sends at a time, the other takes over."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr

import bot.runtime
from bot.config import Settings
from bot.runtime import Runtime, make_transport
from bot.sandbox.server import BotApiServer
from bot.sender import SendLimits
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.migrate import upgrade
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed

USERS = range(9001, 9041)


@pytest.mark.parametrize("runtime_name", ["ptb", "aiogram"])
async def test_a_second_process_waits_then_takes_over(
    runtime_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.runtime, "LEADER_RETRY_SECONDS", 0.2)
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for user in USERS:
        server.add_user(user, f"居民{user}")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}")
    await upgrade(store)
    await seed(store)
    settings = Settings(
        LINZHANG_DATABASE_URL=SecretStr(str(store.url)),
        TELEGRAM_BOT_TOKEN=SecretStr(TOKEN),
        TELEGRAM_API_URL=url,
        LINZHANG_RUNTIME=runtime_name,
    )
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)

    def process() -> Runtime:
        # Each with its own engine, as two processes would have.
        own = Store(store.url)
        return Runtime(own, make_transport(runtime_name, TOKEN, url), settings, limits=fast)

    first, second = process(), process()
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        half = len(USERS) // 2
        for user in USERS[:half]:
            await server.send_text(user, "/help")
        async with store.write() as session:
            enqueue(session, [Reply(u, f"通知 {u}") for u in USERS[:half]], None)
        await server.wait_total(half * 2, timeout=20)

        # The first process stops; the second takes the lead and carries on.
        first.stop.set()
        await asyncio.wait_for(tasks[0], 10)
        for user in USERS[half:]:
            await server.send_text(user, "/help")
        async with store.write() as session:
            enqueue(session, [Reply(u, f"通知 {u}") for u in USERS[half:]], None)
        await server.wait_total(len(USERS) * 2, timeout=20)
        await asyncio.sleep(0.5)
    finally:
        second.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await first.store.dispose()
        await second.store.dispose()
        await server.stop()
        await store.dispose()

    per_chat = Counter(s.chat_id for s in server.sent)
    assert set(per_chat) == set(USERS) and set(per_chat.values()) == {2}, per_chat
