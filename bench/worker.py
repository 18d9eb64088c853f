"""The worker alone: stored updates through the handlers into the outbox, no HTTP.

Registrations (`/start <payload>`), the consent button and `/me`, as in the throughput
benchmark of `bench/chat.py`, handled by the real worker on a SQLite file; reports CPU per
update and SQL statements per update for each wave.

Run: .venv/bin/python bench/worker.py --households 2000 [--runtime aiogram] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, select

from bench.chat import FIRST_USER, TOKEN, seed
from bot.runtime import make_transport
from bot.sandbox.server import BotApiServer, Sent
from bot.worker import Worker
from handlers.context import Context
from models.inbox import store_updates
from models.outbox import OutboxMessage
from models.store import Store

BOT_ID = int(TOKEN.split(":")[0])


async def wave(store: Store, worker: Worker, updates: list[dict[str, Any]]) -> float:
    """Store the updates, handle them all; return CPU seconds spent handling."""
    async with store.write() as session:
        for start in range(0, len(updates), 100):
            await store_updates(session, BOT_ID, updates[start : start + 100])
    cpu = time.process_time()
    while await worker.run_once():
        pass
    return time.process_time() - cpu


async def consent_questions(store: Store) -> dict[int, Sent]:
    """The consent question each resident was sent, as the server would have stored it."""
    async with store.read() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.method == "sendMessage")
        )
        return {
            m.chat_id: Sent(
                m.chat_id, m.id, m.params["text"], m.params["reply_markup"], m.method, 0
            )
            for m in rows
            if "reply_markup" in m.params
        }


async def run(households: int, runtime: str, profile: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        payloads = await seed(database, households, Path(folder))
        store = Store(database)
        statements = [0]
        event.listen(
            store.engine.sync_engine,
            "before_cursor_execute",
            lambda *_: statements.__setitem__(0, statements[0] + 1),
        )
        transport = make_transport(runtime, TOKEN, "http://127.0.0.1:9")
        transport.username = "LinzhangBenchBot"
        ctx = Context("LinzhangBenchBot", "zh_CN", ZoneInfo("Asia/Shanghai"))
        worker = Worker(store, transport, ctx, asyncio.Event())
        users = [FIRST_USER + n for n in range(households)]
        # Only to write updates as Telegram would; it is never started.
        server = BotApiServer(TOKEN, "LinzhangBenchBot")
        for user in users:
            server.add_user(user, f"居民{user}")

        def text(user: int, words: str) -> dict[str, Any]:
            return server.numbered(server.text_message(user, words))

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        total_cpu = 0.0
        for name in ("/start <card>", "press 同意并登记", "/me"):
            if name == "/start <card>":
                updates = [text(u, f"/start {p}") for u, p in zip(users, payloads, strict=True)]
            elif name == "/me":
                updates = [text(u, "/me") for u in users]
            else:
                asked = await consent_questions(store)
                updates = [server.numbered(server.button_press(u, asked[u])) for u in users]
            before = statements[0]
            cpu = await wave(store, worker, updates)
            total_cpu += cpu
            print(
                f"  {name:18} {cpu / len(updates) * 1000:5.2f} ms CPU/update  "
                f"{(statements[0] - before) / len(updates):5.1f} statements/update"
            )
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        print(f"  all                {total_cpu / (3 * households) * 1000:5.2f} ms CPU/update")
        await store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--runtime", choices=["ptb", "aiogram"], default="ptb")
    parser.add_argument("--profile", metavar="FILE")
    options = parser.parse_args()
    print(f"worker alone, runtime {options.runtime}, {options.households} households")
    asyncio.run(run(options.households, options.runtime, options.profile))


if __name__ == "__main__":
    main()
