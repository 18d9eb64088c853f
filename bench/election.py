"""Election day for the district: every household presses its group's ballot, whole stack.

The bot runs in its own process against the local Bot API server on SQLite. Seeding imports a
roster (11 or 12 households a neighbour group, as the district's 86,908 in 7,405; one
registered resident each), opens an election in every group, nominates two residents and
confirms the lists; the bot then posts every ballot to its building group. Measured: the
voting, every household pressing a ballot button at an offered rate (60 % / 30 % / 10 % for
the first, the second candidate and 弃权), a share of them pressing a second time (refused:
本户已投票). Every press is answered (the receipt, or the refusal) and every vote edits its
group's turnout line; a group whose households have all voted is closed by the elections job
moments later, with its result and list. Reported: votes/s sustained, press → answer p50/p99
(and the p99 of the last tenth of the presses, when most groups close), the bot's peak
memory, double votes (ballots beyond one per household, read from the database afterwards),
and how long after the last answer the last group was closed.

Run: .venv/bin/python bench/election.py --households 86908 --rate 600 [--rtt 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

import bench.chat
from bench.chat import Child, bot_command, ready, world
from bench.import_roster import write_roster
from bot.sandbox.server import Latency, Sent
from handlers.election_words import Speaker, post_ballot
from handlers.outgoing import enqueue
from models.ballot import Ballot, Participation
from models.base import utcnow
from models.building_chat import BuildingChat
from models.election import Circle, Election, Source, confirm_list, nominate, open_elections
from models.migrate import upgrade
from models.person import Person, Resident
from models.registry import Estate, Household
from models.roster import apply_import, plan_import
from models.roster_file import read_roster
from models.scope import Scope, ScopeKind
from models.store import Store

FIRST_USER = 10_000_000
DISTRICT_HOUSEHOLDS = 86_908
DISTRICT_GROUPS = 7_405
ZONE = ZoneInfo("Asia/Shanghai")
# Groups handled per transaction while seeding.
SEED_BATCH = 200


def chat_of(building_id: int) -> int:
    return -1_000_000_000 - building_id


async def seed(
    database: str, households: int, folder: Path
) -> tuple[dict[int, tuple[int, int]], dict[int, list[str]]]:
    """Import, register one resident a household, open and confirm every group's election.
    Return each voter's building chat and group, and each group's ballot buttons."""
    roster = folder / "roster.csv"
    # The district's 7,405 neighbour groups to its 86,908 households: 11 or 12 a group.
    groups = max(1, round(households * DISTRICT_GROUPS / DISTRICT_HOUSEHOLDS))
    write_roster(roster, households, max(1, households // 356), groups)
    rows, errors = read_roster(roster)
    assert not errors
    store = Store(database)
    await upgrade(store)
    async with store.write() as session:
        await apply_import(session, await plan_import(session, rows, True), "bench", {})
    voters: dict[int, tuple[int, int]] = {}
    async with store.write() as session:
        found = list(
            await session.execute(
                select(Household.id, Household.building_id, Household.neighbour_group_id).order_by(
                    Household.id
                )
            )
        )
        people, bindings = [], []
        for n, (household, building, group) in enumerate(found):
            user = FIRST_USER + n
            voters[user] = (chat_of(building), group)
            people.append({"user_id": user, "display_name": f"居民{n}", "created_at": utcnow()})
            bindings.append({"household_id": household, "user_id": user, "consented_at": utcnow()})
        await session.execute(insert(Person), people)
        await session.execute(insert(Resident), bindings)
        chats = [
            {"chat_id": chat, "building_id": -chat - 1_000_000_000, "bound_by": 1}
            for chat in sorted({chat for chat, _ in voters.values()})
        ]
        await session.execute(insert(BuildingChat), [{**c, "bound_at": utcnow()} for c in chats])
        estates = list(await session.scalars(select(Estate.id)))
    opened = 0
    for estate in estates:
        async with store.write() as session:
            scope = Scope(ScopeKind.ESTATE, estate, "")
            elections = await open_elections(session, scope, "bench", utcnow(), ZONE)
            opened += len(elections)
    speaker = Speaker(ZONE, "zh_CN")
    ids = list(range(1, opened + 1))
    for start in range(0, len(ids), SEED_BATCH):
        async with store.write() as session:
            for election in await session.scalars(
                select(Election).where(Election.id.in_(ids[start : start + SEED_BATCH]))
            ):
                residents = await session.scalars(
                    select(Resident.user_id)
                    .join(Household, Household.id == Resident.household_id)
                    .where(Household.neighbour_group_id == election.group_id)
                    .order_by(Resident.user_id)
                    .limit(2)
                )
                for user in residents:
                    await nominate(
                        session, election, user, f"居民{user - FIRST_USER}",
                        Circle.VOLUNTEER, "愿为邻里服务", Source.SELF, user,
                    )  # fmt: skip
                await confirm_list(session, election, "bench", utcnow(), ZONE)
                enqueue(session, await post_ballot(session, election, speaker), None)
    async with store.read() as session:
        tokens = {
            group: [token for _, token in ballot["buttons"]]
            for group, ballot in await session.execute(select(Election.group_id, Election.ballot))
        }
    await store.dispose()
    return voters, tokens


async def vote(
    households: int, rate: float, again: float, runtime: str, unlimited: bool, rtt: float = 0.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        started = time.perf_counter()
        voters, tokens = await seed(database, households, Path(folder))
        elections = len(tokens)
        seeded = time.perf_counter() - started
        # Telegram's own limits by default: a group's turnout edits wait and coalesce (of
        # several waiting only the newest goes out); answers to presses are not paced.
        lifted = {
            "LINZHANG_SEND_OVERALL_PER_SECOND": "100000",
            "LINZHANG_SEND_CHAT_PER_SECOND": "100000",
            "LINZHANG_SEND_GROUP_PER_MINUTE": "100000",
        }
        server, _, env = await world(database, runtime, 0, **(lifted if unlimited else {}))
        # Every call crosses a network: half the round trip each way (Telegram is 100-300 ms
        # away), so a press reaches the bot half a round trip late and its answer the server
        # half a round trip after it left.
        server.latency = Latency(rtt=rtt, jitter=rtt * 0.05)
        for user in voters:
            server.add_user(user, f"居民{user - FIRST_USER}")
        for chat in {chat for chat, _ in voters.values()}:
            server.add_group(chat, f"楼栋群{-chat}")
        answered: dict[str, float] = {}
        original = server.api_answercallbackquery

        async def timed_answer(params: dict[str, Any]) -> bool:
            answered[str(params.get("callback_query_id"))] = time.perf_counter()
            return await original(params)

        server.api_answercallbackquery = timed_answer  # type: ignore[method-assign]
        # When the bot first fetched each press: splits the wait into the fetch and the bot.
        fetched: dict[str, float] = {}
        get_updates = server.api_getupdates

        async def timed_fetch(params: dict[str, Any]) -> list[dict[str, Any]]:
            updates = await get_updates(params)
            now = time.perf_counter()
            for update in updates:
                query = update.get("callback_query")
                if query is not None:
                    fetched.setdefault(str(query["id"]), now)
            return updates

        server.api_getupdates = timed_fetch  # type: ignore[method-assign]
        child = await Child.start(bot_command("linzhang", runtime), env)
        await ready(server)
        # Every group's ballot is out before the polls open.
        while len({s.chat_id for s in server.sent if s.buttons()}) < len(
            {chat for chat, _ in voters.values()}
        ):
            await server.wait_total(len(server.sent) + 1, timeout=900)
        ballot_of: dict[int, Sent] = {s.chat_id: s for s in server.sent if s.buttons()}
        rng = random.Random(13)
        users = list(voters)
        rng.shuffle(users)
        presses = users + rng.sample(users, int(len(users) * again))
        pressed: dict[str, float] = {}
        cpu_before = child.cpu_seconds()
        start = time.perf_counter()
        for n, user in enumerate(presses):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chat, group = voters[user]
            # A building group shows one ballot per neighbour group: the voter presses their
            # own group's (another group's would be refused, not a vote).
            # Most groups agree on someone: 60 % the first candidate, 30 % the second, 10 %
            # abstain (a group split evenly goes to a run-off, which this run does not vote).
            token = rng.choices(tokens[group], weights=(6, 3, 1))[0]
            body = server.button_press(user, ballot_of[chat], data=f"t:{token}")
            pressed[body["callback_query"]["id"]] = time.perf_counter()
            await server.push_update(body)
        await server.wait_until(lambda: len(answered) >= len(presses), timeout=900)
        seconds = max(answered.values()) - start
        cpu = child.cpu_seconds() - cpu_before
        # Every group's households all voted: the elections job closes each group moments
        # after its last vote. How long after the last answer the last one closed.
        store = Store(database)
        while True:
            async with store.read() as session:
                closed = await session.scalar(
                    select(func.count()).select_from(Election).where(Election.phase != "voting")
                )
            if closed >= elections or time.perf_counter() - start > 3600:
                break
            await asyncio.sleep(0.2)
        all_closed = time.perf_counter() - start - seconds
        peak = child.peak_mb()
        await child.stop()
        await server.stop()
        async with store.read() as session:
            cast = await session.scalar(select(func.count()).select_from(Ballot))
            voted = await session.scalar(select(func.count()).select_from(Participation))
        await store.dispose()
    waits = sorted((answered[k] - v) * 1000 for k, v in pressed.items() if k in answered)
    # The last tenth of the presses: most groups' last votes, and the second presses.
    last = sorted(pressed.items(), key=lambda item: item[1])[-len(pressed) // 10 :]
    last_waits = sorted((answered[k] - v) * 1000 for k, v in last if k in answered)
    fetching = sorted((fetched[k] - v) * 1000 for k, v in pressed.items() if k in fetched)
    handling = sorted((answered[k] - fetched[k]) * 1000 for k in answered if k in fetched)
    return {
        "households": len(users),
        "elections": elections,
        "presses": len(presses),
        "seeded_s": seeded,
        "seconds": seconds,
        "votes_per_second": len(presses) / seconds,
        "cpu_per_1000": cpu / len(presses) * 1000,
        "p50_ms": statistics.median(waits),
        "p99_ms": waits[int(len(waits) * 0.99) - 1],
        "max_ms": waits[-1],
        "last_p99_ms": last_waits[int(len(last_waits) * 0.99) - 1],
        "all_closed_s": all_closed,
        "fetch_p50_ms": statistics.median(fetching),
        "fetch_p99_ms": fetching[int(len(fetching) * 0.99) - 1],
        "bot_p50_ms": statistics.median(handling),
        "bot_p99_ms": handling[int(len(handling) * 0.99) - 1],
        "peak_mb": peak,
        "ballots": cast,
        "voted": voted,
        "double": (cast or 0) - len(users),
        "closed": closed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--households", type=int, default=DISTRICT_HOUSEHOLDS)
    parser.add_argument("--rate", type=float, default=600.0, help="offered presses per second")
    parser.add_argument("--again", type=float, default=0.05, help="share pressing twice")
    parser.add_argument("--runtime", choices=["ptb", "aiogram"], default="ptb")
    parser.add_argument(
        "--unlimited", action="store_true", help="lift the send limits: every edit goes out"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the bot into FILE")
    parser.add_argument(
        "--rtt", type=float, default=0.0, help="seconds a Bot API call's round trip takes"
    )
    options = parser.parse_args()
    bench.chat.PROFILE = options.profile
    result = asyncio.run(
        vote(
            options.households,
            options.rate,
            options.again,
            options.runtime,
            options.unlimited,
            options.rtt,
        )
    )
    print(
        f"runtime {options.runtime}, round trip {options.rtt * 1000:.0f} ms: "
        f"{result['households']} households in "
        f"{result['elections']} group elections, {result['presses']} presses offered at "
        f"{options.rate:.0f}/s (seeding {result['seeded_s']:.0f} s)\n"
        f"  {result['votes_per_second']:.0f} presses/s sustained over {result['seconds']:.0f} s, "
        f"{result['cpu_per_1000']:.2f} CPU s/1000; press → answer p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms (the last tenth's p99 "
        f"{result['last_p99_ms']:.1f} ms); peak RSS {result['peak_mb']:.0f} MB\n"
        f"  of which press → fetched by the bot p50 {result['fetch_p50_ms']:.1f} ms, p99 "
        f"{result['fetch_p99_ms']:.1f} ms; fetched → answered p50 {result['bot_p50_ms']:.1f} ms, "
        f"p99 {result['bot_p99_ms']:.1f} ms\n"
        f"  ballots {result['ballots']}, households voted {result['voted']}, "
        f"double votes {result['double']}, elections closed early {result['closed']}, the "
        f"last {result['all_closed_s']:.1f} s after the last answer"
    )


if __name__ == "__main__":
    main()
