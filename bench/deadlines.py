"""The deadline job against a district-sized backlog: every open request overdue at once.

Every deadline of the district falls at six in the evening, so after a holiday thousands of
requests can breach together. Seeds a SQLite file with a district roster, a head in every
neighbour group and a secretary in every estate, files N requests a week ago, then runs one
check the way the scheduler does and reports its time, the outbox it wrote and peak memory.

Run: .venv/bin/python bench/deadlines.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.import_roster import write_roster
from handlers.request_cards import Desk
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.person import Person, Resident
from models.registry import Building, Household, NeighbourGroup
from models.request import Level, Request
from models.request_flow import Clock
from models.role import RoleAssignment
from models.roster import apply_import, plan_import
from models.roster_file import read_roster
from models.store import Store
from models.workdays import WorkCalendar
from scheduler.deadlines import check_deadlines

ZONE = ZoneInfo("Asia/Shanghai")
HEADS_FROM = 50_000_000
SECRETARIES_FROM = 60_000_000
RESIDENTS_FROM = 70_000_000


async def heads_and_secretaries(
    session: AsyncSession,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """A head for every neighbour group and a secretary for every estate, as rows to insert
    (people, then their roles), and how many groups there are."""
    groups = list(await session.scalars(select(NeighbourGroup.id)))
    estates = list(await session.scalars(select(func.distinct(Building.estate_id))))
    people = [{"user_id": HEADS_FROM + g, "display_name": f"邻长{g}"} for g in groups]
    people += [{"user_id": SECRETARIES_FROM + e, "display_name": f"书记{e}"} for e in estates]
    grants = [
        {
            "user_id": HEADS_FROM + g,
            "role": "neighbour_head",
            "force": "",
            "scope_kind": "group",
            "scope_id": g,
            "granted_by": "bench",
        }
        for g in groups
    ]
    grants += [
        {
            "user_id": SECRETARIES_FROM + e,
            "role": "secretary",
            "force": "",
            "scope_kind": "estate",
            "scope_id": e,
            "granted_by": "bench",
        }
        for e in estates
    ]
    return people, grants, len(groups)


async def seed(store: Store, folder: Path, requests: int) -> None:
    roster = folder / "roster.csv"
    write_roster(roster, 86_908, 244)
    rows, errors = read_roster(roster)
    assert not errors
    await upgrade(store)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    async with store.write() as session:
        await apply_import(session, await plan_import(session, rows, True), "bench", {})
        people, grants, _ = await heads_and_secretaries(session)
        households = list(
            await session.execute(
                select(
                    Household.id,
                    Household.building_id,
                    Household.neighbour_group_id,
                    Building.estate_id,
                )
                .join(Building, Building.id == Household.building_id)
                .order_by(Household.id)
                .limit(requests)
            )
        )
        people += [
            {"user_id": RESIDENTS_FROM + h, "display_name": f"居民{h}"} for h, *_ in households
        ]
        await session.execute(insert(Person), people)
        await session.execute(insert(RoleAssignment), grants)
        await session.execute(
            insert(Resident),
            [{"household_id": h, "user_id": RESIDENTS_FROM + h} for h, *_ in households],
        )
        await session.execute(
            insert(Request),
            [
                {
                    "reference": f"BENCH-2026-{n:06d}",
                    "kind": "service",
                    "state": "submitted",
                    "level": Level.HEAD.value,
                    "household_id": h,
                    "building_id": b,
                    "estate_id": e,
                    "filed_by": RESIDENTS_FROM + h,
                    "description": "楼道灯坏了",
                    "photos": [],
                    "personal": True,
                    "handler_user_id": HEADS_FROM + g,
                    "deadline_at": week_ago,
                    "deadline_step": "sign",
                    "created_at": week_ago,
                }
                for n, (h, b, g, e) in enumerate(households)
            ],
        )


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite+aiosqlite:///{folder}/bench.db")
        await seed(store, Path(folder), requests)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        clock = Clock(WorkCalendar(), ZONE, datetime.now(ZONE))
        start = time.perf_counter()
        acted = await check_deadlines(store, Desk(ZONE, "zh_CN"), clock)
        seconds = time.perf_counter() - start
        async with store.read() as session:
            messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
            climbed = await session.scalar(
                select(func.count()).select_from(Request).where(Request.level == Level.BRANCH)
            )
        await store.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{requests} overdue requests: {acted} acted on, {climbed} climbed to the branch, "
        f"{messages} outbox messages, {seconds:.1f} s ({requests / seconds:.0f}/s), "
        f"peak RSS {peak:.0f} MB (after seeding {before:.0f} MB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().requests))
