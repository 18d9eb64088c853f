"""Two processes on one SQLite file: the sending leader is killed, the other one finishes.

Each process is given its own LINZHANG_OUTBOX_JOURNAL, as the settings once suggested, and
on SQLite the first one reaches the database through a symlink: neither may change which
journal the next leader reads, or what the last one sent goes out again. On PostgreSQL there
is no journal at all: each send is marked in the database.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from bot.demo import settled
from bot.sandbox.server import BotApiServer
from bot.sender import SendLimits
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.migrate import upgrade
from models.store import Store
from tests.chat.harness import BOT, TOKEN, seed
from tests.chat.sending import bot_process
from tests.conftest import sqlite_path

NOTICES = range(6001, 6201)  # 200 notices waiting in the outbox, one per chat


async def _start(
    runtime: str, url: str, database: str, journal: Path, log: Path
) -> asyncio.subprocess.Process:
    env = {
        "LINZHANG_DATABASE_URL": database,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": url,
        "LINZHANG_RUNTIME": runtime,
        # Slow enough that the kill comes mid-push, with many sends only in the journal.
        "LINZHANG_SEND_OVERALL_PER_SECOND": "20",
        "LINZHANG_OUTBOX_JOURNAL": str(journal),
    }
    with log.open("w") as errors:
        return await bot_process(env, errors)


async def _asked(server: BotApiServer, method: str, count: int) -> None:
    """Wait until the server has been asked `method` `count` times."""
    async with asyncio.timeout(60):
        while sum(1 for _, m, _ in server.requests if m == method) < count:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_the_next_leader_reads_what_the_killed_one_sent(
    runtime: str, database_url: str, tmp_path: Path
) -> None:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for user in NOTICES:
        server.add_user(user, f"居民{user}")
    first_url = second_url = database_url
    real = sqlite_path(database_url)
    if real is not None:
        link = tmp_path / "link.db"
        link.symlink_to(real)
        first_url, second_url = f"sqlite:///{link}", f"sqlite:///{real}"
    store = Store(database_url)
    await upgrade(store)
    await seed(store)
    async with store.write() as session:
        enqueue(session, [Reply(chat, f"通知 {chat}") for chat in NOTICES], None)
    bots: list[asyncio.subprocess.Process] = []
    try:
        bots.append(await _start(runtime, url, first_url, tmp_path / "a.j", tmp_path / "a.log"))
        await server.wait_total(1, timeout=60)  # the first process leads the sender
        bots.append(await _start(runtime, url, second_url, tmp_path / "b.j", tmp_path / "b.log"))
        await _asked(server, "getMe", 2)  # the second one is up and waits for the lead
        await server.wait_total(len(server.sent) + 20, timeout=60)
        bots[0].send_signal(signal.SIGKILL)
        await bots[0].wait()
        assert len(server.sent) < len(NOTICES), "the first process finished before the kill"

        async with asyncio.timeout(120):
            while not await settled(server, store):
                await asyncio.sleep(0.2)
    finally:
        for process in bots:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await server.stop()
        await store.dispose()

    per_chat = Counter(sent.chat_id for sent in server.sent)
    assert set(per_chat) == set(NOTICES), "every notice delivered"
    duplicates = sum(count - 1 for count in per_chat.values())
    # At most the calls that were in flight at the kill go twice.
    assert duplicates <= SendLimits().in_flight, f"{duplicates} notices sent twice"
