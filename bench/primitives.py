"""What one database statement and one Bot API call cost in CPU, the units the bot is made of.

  statements  3,000 runs each on a SQLite file inside one transaction: a statement built each
              time, the same statement built once with bound parameters, `session.get`, a bare
              driver call through SQLAlchemy's connection
  http        3,000 sequential sendMessage calls through python-telegram-bot, on its default
              httpx networking and on bot/ptb_request.py (aiohttp), and through aiogram, against
              the local Bot API server in another process; CPU of the calling process only

Run: .venv/bin/python bench/primitives.py statements   (or http)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, select

from models.migrate import upgrade
from models.person import Person, Resident
from models.store import Store

RUNS = 3_000
ROOT = str(Path(__file__).resolve().parent.parent)
TEXT = "本周走访名单 " * 10


async def cpu_per_run(run: Callable[[int], Awaitable[Any]]) -> float:
    """Microseconds of this process's CPU per call of `run`."""
    start = time.process_time()
    for n in range(RUNS):
        await run(n)
    return (time.process_time() - start) / RUNS * 1e6


async def statements() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite+aiosqlite:///{folder}/bench.db")
        await upgrade(store)
        prebuilt = select(Resident.id).where(
            Resident.household_id == bindparam("household"),
            Resident.user_id == bindparam("user"),
            Resident.unbound_at.is_(None),
        )
        async with store.write() as session:
            connection = await session.connection()
            cases: dict[str, Callable[[int], Awaitable[Any]]] = {
                "select built each time": lambda n: session.execute(
                    select(Resident.id).where(
                        Resident.household_id == n,
                        Resident.user_id == n,
                        Resident.unbound_at.is_(None),
                    )
                ),
                "the same, built once": lambda n: session.execute(
                    prebuilt, {"household": n, "user": n}
                ),
                "session.get (a miss)": lambda n: session.get(Person, n),
                "bare driver call": lambda n: connection.exec_driver_sql(
                    "SELECT id FROM resident WHERE household_id = ? AND user_id = ?"
                    " AND unbound_at IS NULL",
                    (n, n),
                ),
            }
            for name, run in cases.items():
                print(f"  {name:24} {await cpu_per_run(run):5.0f} µs CPU")
        await store.dispose()


SERVER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from bot.sandbox.server import BotApiServer
async def main():
    server = BotApiServer({token!r}, "BenchBot")
    print(await server.start(), flush=True)
    server.add_user(1, "居民")
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def http() -> None:
    from telegram import Bot
    from telegram.request import HTTPXRequest
    from telegram.warnings import PTBUserWarning

    from bot.ptb_request import AiohttpRequest

    # The runtime calls methods by name too (bot/ptb_adapter.py); PTB warns about that.
    warnings.simplefilter("ignore", PTBUserWarning)
    token = "4242424242:BenchTokenForTheLocalBotApiServer"
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER.format(root=ROOT, token=token), stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    url = (await server.stdout.readline()).decode().strip()
    try:
        for name, request in (
            ("httpx (PTB's default)", HTTPXRequest()),
            ("aiohttp", AiohttpRequest()),
        ):
            async with Bot(token, base_url=f"{url}/bot", request=request) as bot:
                cost = await cpu_per_run(
                    lambda _: bot.do_api_request(
                        "sendMessage", api_kwargs={"chat_id": 1, "text": TEXT}
                    )
                )
            print(f"  sendMessage on {name:22} {cost:5.0f} µs CPU")
        from aiogram import Bot as AiogramBot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(url))
        aiogram_bot = AiogramBot(token, session=session)
        try:
            cost = await cpu_per_run(lambda _: aiogram_bot.send_message(1, TEXT))
        finally:
            await session.close()
        print(f"  sendMessage on {'aiogram (its default)':22} {cost:5.0f} µs CPU")
    finally:
        server.terminate()
        await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["statements", "http"])
    options = parser.parse_args()
    asyncio.run(statements() if options.what == "statements" else http())


if __name__ == "__main__":
    main()
