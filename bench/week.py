"""Building every weekly visit list of the district at once (Monday 08:00).

Seeds a SQLite file with the district roster (86,908 households in 244 estates), a head in
every neighbour group and a secretary in every estate, then runs the week's job the way the
scheduler does at Monday 08:00: every estate's visit lists chosen, written as planned visits
with their buttons, and put in the outbox (with the mediation-day reminders that fall at the
same minute). Reports the time, the lists and messages written, and peak memory.

Run: .venv/bin/python bench/week.py [--households N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from bench.deadlines import heads_and_secretaries
from bench.import_roster import write_roster
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


async def main(households: int) -> None:
    desk = Desk(ZONE, "zh_CN")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite+aiosqlite:///{folder}/bench.db")
        heads = await seed(store, Path(folder), households)
        # The estates' first pass (a running bot's), on Monday morning before the lists.
        await fire_due(store, desk, datetime(2026, 11, 9, 7, 0, tzinfo=ZONE))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        fired = await fire_due(store, desk, datetime(2026, 11, 9, 8, 0, 30, tzinfo=ZONE))
        seconds = time.perf_counter() - start
        async with store.read() as session:
            visits = await session.scalar(select(func.count()).select_from(Visit))
            lists = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.params["text"].as_string().contains("走访名单"))
            )
            messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
        await store.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kinds = sorted({f.kind.value for f in fired})
    assert RuleKind.VISIT_LIST.value in kinds
    print(
        f"{households} households, {heads} heads: {lists} visit lists ({visits} planned visits), "
        f"{messages} outbox messages in all ({', '.join(kinds)}), {seconds:.1f} s, "
        f"peak RSS {peak:.0f} MB (after seeding {before:.0f} MB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=86_908)
    asyncio.run(main(parser.parse_args().households))
