"""The deadline job: a reminder before, a climb on breach, each once; time frozen."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.request_cards import Desk
from models.outbox import OutboxMessage
from models.request import Level, Request, RequestKind, State
from models.request_flow import Clock, escalate, file_request, sign
from models.store import Store
from models.workdays import WorkCalendar
from scheduler.deadlines import BATCH, check_deadlines
from tests.conftest import Cli
from tests.request_world import HEAD1, R1, SECRETARY, build_world

ZONE = ZoneInfo("Asia/Shanghai")
DESK = Desk(ZONE, "zh_CN")


def at(day: date, hour: int, minute: int = 0) -> Clock:
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
    return Clock(WorkCalendar(), ZONE, moment)


async def _outbox(store: Store) -> list[tuple[int, str]]:
    async with store.read() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(r.chat_id, r.params.get("text", "")) for r in rows]


async def test_reminded_once_then_climbs_to_the_branch_at_the_deadline(store: Store) -> None:
    async with store.write() as session:
        world = await build_world(session, date(2026, 9, 14))
        household = world.households[R1]
        # Friday afternoon; the next working day is Sunday the 20th (调休).
        await file_request(
            session, household, R1, RequestKind.SERVICE, "电梯停运", at(date(2026, 9, 18), 15)
        )

    assert await check_deadlines(store, DESK, at(date(2026, 9, 19), 12)) == 0  # Saturday
    assert await check_deadlines(store, DESK, at(date(2026, 9, 20), 14, 30)) == 1
    [(chat, text)] = await _outbox(store)
    assert chat == HEAD1 and "签收期限：9月20日 18:00" in text
    assert await check_deadlines(store, DESK, at(date(2026, 9, 20), 15)) == 0  # reminded once

    assert await check_deadlines(store, DESK, at(date(2026, 9, 20), 18, 1)) == 1
    sent = (await _outbox(store))[1:]
    told = [text for chat, text in sent if chat == R1]
    assert len(told) == 1 and "未在签收期限内签收" in told[0] and "小区党支部" in told[0]
    cards = [text for chat, text in sent if chat == SECRETARY]
    assert len(cards) == 1 and "电梯停运" in cards[0]
    async with store.read() as session:
        request = await session.scalar(select(Request))
        assert request is not None
        assert (request.state, request.level) == (State.ESCALATED, Level.BRANCH)
        # The branch has one working day: Monday the 21st at six.
        assert request.deadline_at == datetime(2026, 9, 21, 18, 0, tzinfo=ZONE)
    assert await check_deadlines(store, DESK, at(date(2026, 9, 20), 18, 2)) == 0


async def test_calendar_import_makes_deadlines_follow_the_official_schedule(
    store: Store, cli: Cli, tmp_path: Path
) -> None:
    schedule = tmp_path / "2027.txt"
    schedule.write_text(
        "# 2027 春节（示例格式）\n2027-02-06 workday 春节调休\n2027-02-08 holiday 春节\n",
        encoding="utf-8",
    )
    result = cli("calendar", "import", str(schedule))
    assert result.exit_code == 0, result.output
    assert "已载入 2 天" in result.output
    async with store.read() as session:
        calendar = await WorkCalendar.load(session)
    # Friday 5 February 2027: the next working day is the worked Saturday, then Tuesday the 9th.
    assert calendar.add_workdays(date(2027, 2, 5), 1) == date(2027, 2, 6)
    assert calendar.add_workdays(date(2027, 2, 6), 1) == date(2027, 2, 9)

    schedule.write_text("2027-02-30 holiday\n", encoding="utf-8")
    bad = cli("calendar", "import", str(schedule))
    assert bad.exit_code == 2 and "第 1 行" in bad.output and "Traceback" not in bad.output
    missing = cli("calendar", "import", str(tmp_path / "nowhere.txt"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output


async def test_an_estate_sets_its_own_limits_by_step_kind_and_level(store: Store, cli: Cli) -> None:
    async with store.write() as session:
        world = await build_world(session, date(2026, 9, 14))
    set_ = ("deadlines", "set", "--estate", "芙蓉花园")
    assert cli(*set_, "--step", "resolve", "--kind", "service", "--days", "2").exit_code == 0
    assert cli(*set_, "--step", "decide", "--level", "branch", "--days", "3").exit_code == 0
    bad = cli(*set_, "--step", "resolve", "--days", "0")
    assert bad.exit_code == 2 and "1 到 60" in bad.output
    unknown = cli(*set_, "--step", "sleep", "--days", "2")
    assert unknown.exit_code == 2 and "sign, resolve" in unknown.output
    listed = cli("deadlines", "list", "--estate", "芙蓉花园")
    assert "resolve service * 2" in listed.output and "decide * branch 3" in listed.output

    monday = at(date(2026, 9, 14), 10)
    async with store.write() as session:
        household = await session.merge(world.households[R1])
        change = await file_request(session, household, R1, RequestKind.SERVICE, "门禁坏了", monday)
        request = change.request
        change = await sign(session, request, HEAD1, monday)
        assert change.request.deadline_at == datetime(2026, 9, 16, 18, 0, tzinfo=ZONE)
        change = await escalate(session, request, HEAD1, "需要物业", monday)
        assert change.request.deadline_at == datetime(2026, 9, 17, 18, 0, tzinfo=ZONE)
        # An opinion keeps the default of five working days: the fifth is Sunday the 20th (调休).
        change = await file_request(session, household, R1, RequestKind.OPINION, "建议", monday)
        change = await sign(session, change.request, HEAD1, monday)
        assert change.request.deadline_at == datetime(2026, 9, 20, 18, 0, tzinfo=ZONE)


async def test_a_backlog_larger_than_a_batch_is_cleared_in_one_run(store: Store) -> None:
    async with store.write() as session:
        world = await build_world(session, date(2026, 9, 14))
        household = world.households[R1]
        for n in range(BATCH * 2 + 50):
            await file_request(
                session, household, R1, RequestKind.SERVICE, f"事项{n}", at(date(2026, 9, 14), 9)
            )
    assert await check_deadlines(store, DESK, at(date(2026, 9, 16), 9)) == BATCH * 2 + 50
    async with store.read() as session:
        levels = set(await session.scalars(select(Request.level)))
    assert levels == {Level.BRANCH}  # each climbed one level, not further
