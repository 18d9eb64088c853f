"""A leader whose database connection is cut steps down, and another process takes over:
on PostgreSQL the advisory lock goes with the connection, and the old leader must notice."""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

import bot.runtime
from bot.config import Settings
from bot.runtime import Runtime, make_transport
from bot.sandbox.server import BotApiServer
from bot.sender import SendLimits
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed

USERS = range(9101, 9141)
SENDER_KEY = zlib.crc32(b"linzhang:sender")


async def _sender_pid(store: Store) -> int | None:
    """The server process holding the sender's lock, if anyone holds it."""
    async with store.read() as session:
        return await session.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": SENDER_KEY},
        )


async def _wait_for_holder(store: Store, other_than: int | None = None) -> int:
    async with asyncio.timeout(20):
        while True:
            pid = await _sender_pid(store)
            if pid is not None and pid != other_than:
                return pid
            await asyncio.sleep(0.05)


# Advisory locks live on a server; on SQLite the lock is a file's, and goes with the process.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("runtime_name", ["ptb", "aiogram"])
async def test_a_leader_cut_off_from_the_database_steps_down(
    runtime_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(bot.runtime, "LEADER_RETRY_SECONDS", 0.2)
    monkeypatch.setattr(bot.runtime, "LEADER_CHECK_SECONDS", 0.2)
    from models.migrate import upgrade

    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for user in USERS:
        server.add_user(user, f"居民{user}")
    store = Store(database_url)
    await upgrade(store)
    await seed(store)
    settings = Settings(
        LINZHANG_DATABASE_URL=SecretStr(str(store.url)),
        TELEGRAM_BOT_TOKEN=SecretStr(TOKEN),
        TELEGRAM_API_URL=url,
        LINZHANG_RUNTIME=runtime_name,
        LINZHANG_HEALTH_LISTEN="off",
    )
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)

    def process() -> Runtime:
        return Runtime(
            Store(store.url), make_transport(runtime_name, TOKEN, url), settings, limits=fast
        )

    first = process()
    tasks = [asyncio.create_task(first.run())]
    second = process()
    try:
        leader = await _wait_for_holder(store)
        tasks.append(asyncio.create_task(second.run()))
        half = len(USERS) // 2
        async with store.write() as session:
            enqueue(session, [Reply(u, f"通知 {u}") for u in USERS[:half]], None)
        await server.wait_total(half, timeout=20)

        # The database cuts the leader's connection, as a restart or a proxy would.
        async with store.write() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": leader})
        successor = await _wait_for_holder(store, other_than=leader)
        assert successor != leader
        # The old leader says it stepped down (it would otherwise send on beside the new one).
        async with asyncio.timeout(10):
            while not any("lost the lead" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.05)
        async with store.write() as session:
            enqueue(session, [Reply(u, f"通知 {u}") for u in USERS[half:]], None)
        await server.wait_total(len(USERS), timeout=20)
        # Both processes still run: only one of them sends.
        assert not any(task.done() for task in tasks)
    finally:
        first.stop.set()
        second.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await first.store.dispose()
        await second.store.dispose()
        await server.stop()
        await store.dispose()

    per_chat = Counter(s.chat_id for s in server.sent)
    assert set(per_chat) == set(USERS) and set(per_chat.values()) == {1}, per_chat
