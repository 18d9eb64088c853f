"""The district's figures on a simulated district of Hetang's size, on SQLite.

  report  `linzhang report` for the whole district as a whole command, start-up included
  stats   /stats for a street (every 2.5 s) answered while residents ask /help at 20/s; the
          bot's peak memory

Run: .venv/bin/python bench/figures.py report   (and `stats --runtime ptb`); the district is
built once into out/bench-district.db by `linzhang simulate` (about 6 s) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.chat import Child, bot_command, ready, world
from bot.sandbox.server import BotApiServer
from models.role import Role, RoleAssignment
from models.store import Store

HERE = Path(__file__).resolve().parent
DISTRICT = HERE.parent / "out" / "bench-district.db"  # never written after it is built
YEAR = "2026"


def district() -> str:
    """The simulated district's database URL, built on first use."""
    url = f"sqlite+aiosqlite:///{DISTRICT}"
    env = {**os.environ, "LINZHANG_DATABASE_URL": url}
    if not DISTRICT.exists():
        DISTRICT.parent.mkdir(exist_ok=True)
        for args in (["db", "upgrade"], ["simulate", "--year", YEAR]):
            subprocess.run([sys.executable, "-m", "bot", *args], env=env, check=True)
    # A district built before the newest migration is brought to it (the bot refuses an old
    # schema); nothing is changed when it is current.
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, check=True)
    return url


def report(runs: int) -> dict[str, float]:
    env = {**os.environ, "LINZHANG_DATABASE_URL": district()}
    command = [sys.executable, "-m", "bot", "report", "--period", YEAR]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    return {"runs": runs, "median_s": statistics.median(seconds), "max_s": max(seconds)}


async def stats(runtime: str, asks: int) -> dict[str, float]:
    """A street's staff member asks /stats every 2.5 s while residents ask /help, on a copy of
    the district (a run leaves answers behind that the next would have to send first).

    Not faster: each answer is two messages (the figures, the chart) and Telegram takes one a
    second into a chat, so a faster asker would measure that limit, not the bot."""
    district()
    copy = Path(tempfile.mkdtemp()) / "district.db"
    shutil.copyfile(DISTRICT, copy)
    url = f"sqlite+aiosqlite:///{copy}"
    store = Store(url)
    async with store.read() as session:
        staff = await session.scalar(
            select(RoleAssignment.user_id).where(RoleAssignment.role == Role.STREET_STAFF.value)
        )
    await store.dispose()
    assert staff is not None
    server, residents, env = await world(url, runtime, 200)
    server.add_user(staff, "街道干事")
    child = await Child.start(bot_command("linzhang", runtime), env)
    await ready(server)
    chatter = asyncio.create_task(_residents(server, residents))
    waits = []
    for _ in range(asks):
        seen = len(server.sent_to(staff))
        asked = time.time()
        await server.send_text(staff, "/stats")
        # The figures' text, then the chart: the answer is the text.
        answer = (await server.wait_sent(staff, seen + 2, timeout=60))[seen]
        waits.append(answer.at - asked)
        await asyncio.sleep(max(0.0, asked + 2.5 - time.time()))
    chatter.cancel()
    peak = child.peak_mb()
    await child.stop()
    await server.stop()
    shutil.rmtree(copy.parent)
    waits.sort()
    return {
        "asks": asks,
        "p50_ms": statistics.median(waits) * 1000,
        "p99_ms": waits[max(0, int(len(waits) * 0.99) - 1)] * 1000,
        "max_ms": waits[-1] * 1000,
        "peak_mb": peak,
    }


async def _residents(server: BotApiServer, residents: list[int]) -> None:
    """Residents asking /help, twenty a second, for as long as the benchmark runs."""
    n = 0
    while True:
        await server.send_text(residents[n % len(residents)], "/help")
        n += 1
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["report", "stats"])
    parser.add_argument("--runtime", choices=["ptb", "aiogram"], default="ptb")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--asks", type=int, default=60)
    args = parser.parse_args()
    if args.what == "report":
        found = report(args.runs)
        print(
            f"linzhang report, the whole district, {found['runs']} runs: "
            f"median {found['median_s']:.2f} s, max {found['max_s']:.2f} s"
        )
    else:
        found = asyncio.run(stats(args.runtime, args.asks))
        print(
            f"runtime {args.runtime}, /stats for a street asked {found['asks']} times "
            "(every 2.5 s) while "
            f"residents ask /help at 20/s: p50 {found['p50_ms']:.0f} ms, "
            f"p99 {found['p99_ms']:.0f} ms, max {found['max_ms']:.0f} ms; "
            f"bot peak RSS {found['peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
