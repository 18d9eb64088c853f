"""A neighbour head's week: rules fired once at their time, quiet hours, the visit rotation."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from handlers.request_cards import Desk
from models.audit import AuditEntry
from models.building_chat import BuildingChat
from models.occurrence import Occurrence, OccurrenceSend, Outcome
from models.outbox import OutboxMessage
from models.person import Person, Resident
from models.privacy import FIRST_PSEUDONYM
from models.problem import Problem
from models.profile import set_fee_reminders
from models.registry import Household, HouseholdCare
from models.role import Grant, Role, grant_role
from models.schedule_rule import DEFAULTS, RuleKind, set_rule, week_of
from models.scope import resolve_scope
from models.store import Store
from models.visit import Visit, VisitState, record_visit, rotation_weeks
from scheduler.week import fire_due
from tests.registry_factory import make_estate

ZONE = ZoneInfo("Asia/Shanghai")
DESK = Desk(ZONE, "zh_CN")
HEAD, OTHER_HEAD, SECRETARY, GROUP_CHAT = 3101, 3201, 3901, -100777
ROOMS = tuple(f"{n:03d}" for n in range(101, 113))  # twelve households a group
CARE_ROOM = "105"


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


async def build_estate(store: Store) -> int:
    async with store.write() as session:
        estate = await make_estate(session, units=("1单元", "2单元"), rooms=ROOMS)
        for user, name in ((HEAD, "陈邻长"), (OTHER_HEAD, "刘邻长"), (SECRETARY, "赵书记")):
            session.add(Person(user_id=user, display_name=name))
        await session.flush()
        for user, role, scope in (
            (HEAD, Role.NEIGHBOUR_HEAD, "group:芙蓉花园/1栋/1单元"),
            (OTHER_HEAD, Role.NEIGHBOUR_HEAD, "group:芙蓉花园/1栋/2单元"),
            (SECRETARY, Role.SECRETARY, "estate:芙蓉花园"),
        ):
            where = await resolve_scope(session, scope)
            await grant_role(
                session,
                Grant(user, role, where, None, term_start=date(2026, 1, 1)),
                "test",
                date(2026, 1, 1),
            )
        care = await session.scalar(
            select(Household).where(Household.unit == "1单元", Household.room == CARE_ROOM)
        )
        assert care is not None
        session.add(HouseholdCare(household_id=care.id, kind="elderly_alone"))
        building_id = care.building_id
        session.add(BuildingChat(chat_id=GROUP_CHAT, building_id=building_id, bound_by=HEAD))
        return estate.id


async def outbox(store: Store) -> list[OutboxMessage]:
    async with store.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_defaults_then_an_estate_changes_a_rule(store: Store) -> None:
    estate_id = await build_estate(store)
    async with store.write() as session:
        week = await week_of(session, estate_id)
        assert week.rules[RuleKind.VISIT_LIST].at == time(8, 0)
        assert week.rules[RuleKind.FEE_REMINDER].enabled is False
        assert week.rules[RuleKind.WEEKLY_SUMMARY].weekday == 0
        await set_rule(session, estate_id, RuleKind.FEE_REMINDER, "test", enabled=True, day=10)
        with pytest.raises(Problem):
            await set_rule(session, estate_id, RuleKind.VISIT_LIST, "test", weekday=7)
    async with store.read() as session:
        week = await week_of(session, estate_id)
        assert (
            week.rules[RuleKind.FEE_REMINDER].enabled
            and week.rules[RuleKind.FEE_REMINDER].day == 10
        )
        assert week.rules[RuleKind.VISIT_LIST] == DEFAULTS[RuleKind.VISIT_LIST]
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert "schedule.rule" in actions


async def test_a_simulated_month(store: Store) -> None:
    """Every push at its time in its zone, quiet hours kept, the rotation bound, care first."""
    start = local(date(2026, 11, 1), 0)  # a Sunday
    with time_machine.travel(start - timedelta(days=1), tick=False):
        estate_id = await build_estate(store)
    async with store.write() as session:
        # The evening reminder falls in quiet hours here, so it waits for the morning.
        await set_rule(session, estate_id, RuleKind.CLEANING_EVE, "test", at=time(22, 0))
    fired = []
    visited: dict[int, list[date]] = defaultdict(list)
    with time_machine.travel(start, tick=False) as traveller:
        # A first start records what fell before it (last week's) as skipped.
        assert {f.outcome for f in await fire_due(store, DESK)} == {Outcome.SKIPPED}
        moment = start
        while moment < start + timedelta(days=35):
            moment += timedelta(minutes=30)
            traveller.move_to(moment)
            now = datetime.now(UTC)
            for f in await fire_due(store, DESK):
                assert f.outcome is Outcome.FIRED
                # Fired at the first pass at or after its time (each half hour here).
                assert timedelta(0) <= now - f.due_at < timedelta(minutes=30)
                fired.append(f)
                if f.kind is RuleKind.VISIT_LIST:
                    await visit_all_but_one(store, now, visited)
    due = defaultdict(list)
    for f in fired:
        due[f.kind].append(f.due_at.astimezone(ZONE))
    assert [d.strftime("%a %H:%M") for d in due[RuleKind.VISIT_LIST]] == ["Mon 08:00"] * 5
    assert {d.strftime("%a %H:%M") for d in due[RuleKind.VISIT_NUDGE]} == {"Fri 17:00"}
    assert {d.strftime("%a %H:%M") for d in due[RuleKind.CLEANING_EVE]} == {"Fri 22:00"}
    assert {d.strftime("%a %H:%M") for d in due[RuleKind.CLEANING_DAY]} == {"Sat 08:00"}
    assert [d.date() for d in due[RuleKind.ADVERT_CLEANUP]] == [date(2026, 11, 1)]
    assert RuleKind.FEE_REMINDER not in due
    assert {d.strftime("%a %H:%M") for d in due[RuleKind.WEEKLY_SUMMARY]} == {"Mon 09:00"}

    messages = await outbox(store)
    eve = [
        m for m in messages if m.chat_id == GROUP_CHAT and "明天是楼道卫生日" in m.params["text"]
    ]
    assert len(eve) == 5
    for m in eve:
        assert m.not_before is not None
        assert m.not_before.astimezone(ZONE).time() == time(8, 0)
        assert m.not_before.astimezone(ZONE).date() == m.created_at.astimezone(
            ZONE
        ).date() + timedelta(1)
    assert all(m.not_before is None for m in messages if m not in eve)
    lists = [
        m.params["text"] for m in messages if m.chat_id == HEAD and "走访名单" in m.params["text"]
    ]
    assert len(lists) == 5
    # Care first: on most lists, and at the top of each it is on; the rotation bound may take
    # its place in a week when others would wait past it.
    cared = [text for text in lists if "105室" in text]
    assert len(cared) >= 3, lists
    assert all("1栋1单元105室（独居老人）" in text.splitlines()[1] for text in cared)
    summaries = [
        m.params["text"] for m in messages if m.chat_id == SECRETARY and "上周" in m.params["text"]
    ]
    assert "陈邻长：4/5户" in summaries[-1]

    # Every household of the head's group on a list within the rotation bound.
    bound = rotation_weeks(len(ROOMS), 5)
    assert bound == math.ceil(12 / 5)
    async with store.read() as session:
        homes = list(await session.scalars(select(Household.id).where(Household.unit == "1单元")))
    first = date(2026, 11, 2)
    for home in homes:
        days = [first - timedelta(days=1), *sorted(visited[home]), first + timedelta(weeks=5)]
        gaps = [(b - a).days for a, b in pairwise(days)]
        assert max(gaps) <= 7 * bound + 1, (home, visited[home])


async def visit_all_but_one(store: Store, now: datetime, visited: dict[int, list[date]]) -> None:
    """The head visits every household of the new list except the last, who is not home.

    Return by household the weeks it was on the list: a household not at home is carried over
    and visited the week after, so the bound is the head's to keep, not the resident's.
    """
    week = now.astimezone(ZONE).date()
    async with store.write() as session:
        visits = list(
            await session.scalars(
                select(Visit)
                .where(Visit.head_user_id == HEAD, Visit.week == week)
                .order_by(Visit.id)
            )
        )
        assert len(visits) == 5
        for visit in visits:
            visited[visit.household_id].append(week)
        for visit in visits[:-1]:
            await record_visit(session, visit.id, HEAD, VisitState.VISITED, now)
        await record_visit(session, visits[-1].id, HEAD, VisitState.NOT_HOME, now)


async def test_stopped_across_a_firing_runs_once_within_grace(store: Store) -> None:
    estate_id = await build_estate(store)
    monday = date(2026, 11, 9)
    with time_machine.travel(local(monday, 7, 59), tick=False) as traveller:
        # The first pass for an estate records what fell before it as skipped.
        assert {f.outcome for f in await fire_due(store, DESK)} == {Outcome.SKIPPED}
        # The process is down from 07:59 to 15:00: seven hours late, within the 12 h grace.
        traveller.move_to(local(monday, 15))
        late = [f for f in await fire_due(store, DESK) if f.kind is RuleKind.VISIT_LIST]
        assert [f.outcome for f in late] == [Outcome.FIRED]
        assert await fire_due(store, DESK) == []
        traveller.move_to(local(monday, 15, 1))
        assert await fire_due(store, DESK) == []
    async with store.read() as session:
        count = await session.scalar(
            select(func.count()).where(
                Occurrence.estate_id == estate_id,
                Occurrence.kind == RuleKind.VISIT_LIST.value,
                Occurrence.outcome == Outcome.FIRED.value,
            )
        )
        assert count == 1
    lists = [m for m in await outbox(store) if "走访名单" in m.params["text"]]
    assert sorted(m.chat_id for m in lists) == [HEAD, OTHER_HEAD]


async def test_stopped_beyond_grace_is_skipped_never_sent_late(store: Store) -> None:
    await build_estate(store)
    monday = date(2026, 11, 9)
    with time_machine.travel(local(monday, 7), tick=False) as traveller:
        await fire_due(store, DESK)
        before = len(await outbox(store))
        traveller.move_to(local(monday + timedelta(days=1), 9))  # 25 hours after 08:00
        done = {f.kind: f for f in await fire_due(store, DESK)}
        assert done[RuleKind.VISIT_LIST].outcome is Outcome.SKIPPED
        assert done[RuleKind.VISIT_LIST].messages == 0
        assert await fire_due(store, DESK) == []
    assert not [m for m in (await outbox(store))[before:] if "走访名单" in m.params["text"]]


async def test_two_processes_fire_each_occurrence_once(store: Store) -> None:
    await build_estate(store)
    url = store.url.render_as_string(hide_password=False)
    # The estate's first pass, before the day's firings, as a running bot's would be.
    await fire_due(store, DESK, local(date(2026, 11, 9), 7))
    moment = local(date(2026, 11, 9), 9, 30).isoformat()
    script = (
        "import asyncio, sys\n"
        "from datetime import datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from handlers.request_cards import Desk\n"
        "from models.store import Store\n"
        "from scheduler.week import fire_due\n"
        "async def main():\n"
        "    store = Store(sys.argv[1])\n"
        "    fired = await fire_due(store, Desk(ZoneInfo('Asia/Shanghai'), 'zh_CN'),"
        " datetime.fromisoformat(sys.argv[2]))\n"
        "    print(sum(1 for f in fired if f.outcome == 'fired'))\n"
        "    await store.dispose()\n"
        "asyncio.run(main())\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, moment, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [int((await p.communicate())[0]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    async with store.read() as session:
        occurrences = await session.scalar(
            select(func.count()).where(Occurrence.outcome == Outcome.FIRED.value)
        )
        keys = await session.scalar(select(func.count()).select_from(OccurrenceSend))
    # Monday 09:30: the visit list, the mediation day and the summary, fired once between them.
    assert sum(outputs) == occurrences == 3
    messages = await outbox(store)
    assert len(messages) == keys
    assert len({(m.chat_id, m.params["text"]) for m in messages}) == len(messages)


async def test_another_heads_household_or_a_stale_button_is_refused(store: Store) -> None:
    await build_estate(store)
    monday = date(2026, 11, 9)
    with time_machine.travel(local(monday, 7), tick=False) as traveller:
        await fire_due(store, DESK)
        traveller.move_to(local(monday, 8, 5))
        await fire_due(store, DESK)
        now = datetime.now(UTC)
    async with store.read() as session:
        visit = await session.scalar(select(Visit).where(Visit.head_user_id == HEAD).limit(1))
        assert visit is not None
    with pytest.raises(Problem) as refused:
        async with store.write() as session:
            await record_visit(session, visit.id, OTHER_HEAD, VisitState.VISITED, now)
    assert refused.value.key == "visit.not_yours"
    async with store.write() as session:
        await record_visit(session, visit.id, HEAD, VisitState.VISITED, now)
    with pytest.raises(Problem) as stale:
        async with store.write() as session:
            await record_visit(session, visit.id, HEAD, VisitState.NOT_HOME, now)
    assert stale.value.key == "visit.stale"
    async with store.read() as session:
        again = await session.get(Visit, visit.id)
        assert again is not None and again.state == VisitState.VISITED.value
        recorded = await session.scalar(
            select(func.count()).where(AuditEntry.action == "visit.recorded")
        )
        assert recorded == 1


async def test_a_list_moved_to_a_later_day_of_the_week_adds_no_household_twice(
    store: Store,
) -> None:
    estate_id = await build_estate(store)
    monday = date(2026, 11, 9)
    with time_machine.travel(local(monday, 7), tick=False) as traveller:
        await fire_due(store, DESK)
        traveller.move_to(local(monday, 8, 1))
        await fire_due(store, DESK)
        async with store.write() as session:
            await set_rule(session, estate_id, RuleKind.VISIT_LIST, "test", weekday=2)
        traveller.move_to(local(monday + timedelta(days=2), 8, 1))
        again = [f for f in await fire_due(store, DESK) if f.kind is RuleKind.VISIT_LIST]
        assert [f.outcome for f in again] == [Outcome.FIRED]
    async with store.read() as session:
        rows = list(await session.execute(select(Visit.household_id, Visit.week)))
    assert len(rows) == len(set(rows)) == 20  # five more for each head, none twice


async def test_fee_reminders_go_privately_to_those_who_asked_only_when_the_estate_turned_them_on(
    store: Store,
) -> None:
    resident, neighbour = 4101, 4102
    with time_machine.travel(local(date(2026, 11, 1), 9), tick=False):
        estate_id = await build_estate(store)
        async with store.write() as session:
            homes = list(await session.scalars(select(Household).order_by(Household.id).limit(2)))
            for user, home in zip((resident, neighbour), homes, strict=True):
                session.add(Person(user_id=user, display_name=f"居民{user}"))
                session.add(Resident(household_id=home.id, user_id=user))
            # Someone erased while still bound: their binding stays under a pseudonym.
            session.add(Person(user_id=FIRST_PSEUDONYM))
            session.add(
                Resident(household_id=homes[1].id, user_id=FIRST_PSEUDONYM, fee_reminders=True)
            )
            await session.flush()
            bound = await session.scalar(select(Resident).where(Resident.user_id == resident))
            assert bound is not None
            await set_fee_reminders(session, resident, bound.id, True, f"user:{resident}")
            with pytest.raises(Problem):
                await set_fee_reminders(session, neighbour, bound.id, True, "user:0")
        await fire_due(store, DESK)

    async def reminders() -> list[OutboxMessage]:
        return [m for m in await outbox(store) if "缴费提醒" in m.params["text"]]

    # The rule is off by default: the 5th passes without a word.
    with time_machine.travel(local(date(2026, 11, 5), 10, 1), tick=False):
        assert RuleKind.FEE_REMINDER not in {f.kind for f in await fire_due(store, DESK)}
    assert await reminders() == []
    async with store.write() as session:
        await set_rule(session, estate_id, RuleKind.FEE_REMINDER, "test", enabled=True)
    with time_machine.travel(local(date(2026, 12, 5), 10, 1), tick=False):
        fired = [f for f in await fire_due(store, DESK) if f.kind is RuleKind.FEE_REMINDER]
    assert [(f.outcome, f.messages) for f in fired] == [(Outcome.FIRED, 1)]
    [sent] = await reminders()
    assert sent.chat_id == resident and not sent.is_group and sent.not_before is None
    assert "居民" not in sent.params["text"] and "室" not in sent.params["text"]
