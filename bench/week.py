"""Building every weekly visit list of the district at once (Monday 08:00).

Seeds a SQLite file with the district roster (86,908 households in 244 estates), a head in
every neighbour group and a secretary in every estate, then runs the week's job the way the
scheduler does at Monday 08:00: every estate's visit lists chosen, written as planned visits
with their buttons, and put in the outbox (with the mediation-day reminders that fall at the
same minute). Reports the time, the lists and messages written, and peak memory.

With --deliver, the lists are then sent by the bot in its own process against the local Bot
API server enforcing the cap, over a network of round trip --rtt, while a resident asks /help
every two seconds (as bench/chat.py's outbox mode, with the real lists and their buttons). The
mediation-day reminders of the same minute are taken out of the outbox first: the lists alone.

Run: .venv/bin/python bench/week.py [--households N] [--profile FILE]
                                    [--deliver [--rtt MS] [--cap N]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert, select

from bench.chat import push, world
from bench.deadlines import heads_and_secretaries
from bench.import_roster import write_roster
from bot.runtime import settle_garbage_collector
from handlers.request_cards import Desk
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.person import Person
from models.role import RoleAssignment
from models.roster import apply_import, plan_import
from models.roster_file import read_roster
from models.schedule_rule import RuleKind
from models.store import Store
from models.visit import Visit
from scheduler.week import fire_due

ZONE = ZoneInfo("Asia/Shanghai")
LISTS = OutboxMessage.params["text"].as_string().contains("走访名单")


async def seed(store: Store, folder: Path, households: int) -> int:
    roster = folder / "roster.csv"
    write_roster(roster, households, 244)
    rows, errors = read_roster(roster)
    assert not errors
    await upgrade(store)
    async with store.write() as session:
        await apply_import(session, await plan_import(session, rows, True), "bench", {})
        people, grants, groups = await heads_and_secretaries(session)
        await session.execute(insert(Person), people)
        await session.execute(insert(RoleAssignment), grants)
        return groups


async def main(
    households: int, deliver: bool, rtt: float, cap: int, runtime: str, profile: str | None
) -> None:
    desk = Desk(ZONE, "zh_CN")
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        store = Store(database)
        heads = await seed(store, Path(folder), households)
        # The estates' first pass (a running bot's), on Monday morning before the lists.
        await fire_due(store, desk, datetime(2026, 11, 9, 7, 0, tzinfo=ZONE))
        # As in `linzhang run`: what was there before the job (here the seeding's leftovers,
        # there the frameworks) is kept out of the collector's way.
        settle_garbage_collector()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        fired = await fire_due(store, desk, datetime(2026, 11, 9, 8, 0, 30, tzinfo=ZONE))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        async with store.read() as session:
            visits = await session.scalar(select(func.count()).select_from(Visit))
            lists = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(LISTS)
            )
            messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
        if deliver:
            async with store.write() as session:
                await session.execute(delete(OutboxMessage).where(~LISTS))
                chats = set(await session.scalars(select(OutboxMessage.chat_id)))
        await store.dispose()
        if deliver:
            sent = await send(database, chats, rtt, cap, runtime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kinds = sorted({f.kind.value for f in fired})
    assert RuleKind.VISIT_LIST.value in kinds
    print(
        f"{households} households, {heads} heads: {lists} visit lists ({visits} planned visits), "
        f"{messages} outbox messages in all ({', '.join(kinds)}), {seconds:.1f} s "
        f"({cpu:.1f} CPU s), "
        f"peak RSS {peak:.0f} MB (after seeding {before:.0f} MB)"
    )

    if deliver:
        print(
            f"delivered by {runtime} at a {rtt * 1000:.0f} ms round trip, cap {cap}/s: "
            f"{sent['messages']:.0f} lists in {sent['seconds']:.0f} s, {sent['rate']:.1f}/s = "
            f"{sent['rate'] / cap:.3f} of the cap (with the answers "
            f"{sent['used'] / cap:.3f}), 429s {sent['rejected_429']:.0f}, lost {sent['lost']:.0f}, "
            f"sent twice {sent['twice']:.0f}, bot {sent['cpu']:.0f} CPU s, "
            f"peak RSS {sent['peak_mb']:.0f} MB\n"
            f"  /help every 2 s during the push ({sent['asked']:.0f} asked): "
            f"p50 {sent['p50_ms']:.0f} ms, p99 {sent['p99_ms']:.0f} ms, max {sent['max_ms']:.0f} ms"
        )


async def send(
    database: str, chats: set[int], rtt: float, cap: int, runtime: str
) -> dict[str, float]:
    """Run the bot until every list is delivered; how fast, and how long the resident waited."""
    server, [resident], env = await world(
        database, runtime, 1, LINZHANG_SEND_OVERALL_PER_SECOND=str(cap)
    )
    for chat in chats:
        server.add_user(chat, f"邻长{chat}")
    return await push(server, env, runtime, chats, resident, cap, rtt)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=86_908)
    parser.add_argument("--deliver", action="store_true", help="then send them with the bot")
    parser.add_argument("--rtt", type=float, default=100.0, help="the round trip, in ms")
    parser.add_argument("--cap", type=int, default=30, help="the server's messages per second")
    parser.add_argument("--runtime", choices=["ptb", "aiogram"], default="ptb")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the lists' building into FILE")
    options = parser.parse_args()
    asyncio.run(
        main(
            options.households,
            options.deliver,
            options.rtt / 1000,
            options.cap,
            options.runtime,
            options.profile,
        )
    )
