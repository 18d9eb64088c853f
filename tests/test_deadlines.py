"""The deadline job: a reminder before, a climb on breach, each once; time frozen."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.outgoing import enqueue
from handlers.request_cards import Desk, notices
from models.audit import AuditEntry
from models.deadline_rule import Step, set_rule
from models.outbox import OutboxMessage
from models.request import Level, Request, RequestKind, State
from models.request_flow import Clock, breach, escalate, file_request, resolve, sign
from models.rows import rows_of
from models.store import Store
from models.workdays import WorkCalendar
from scheduler.deadlines import BATCH, check_deadlines
from tests.conftest import Cli
from tests.request_world import HEAD1, HEAD2, R1, R1B, R2, R3, SECRETARY, build_world

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


async def _after_the_scan(session: AsyncSession) -> tuple[list[object], list[object], list[object]]:
    """What a scan leaves: each request's routing, the audit entries, what the outbox says."""
    requests = [
        (r.reference, r.state, r.level, r.handler_user_id, r.deadline_at, r.deadline_step)
        for r in await session.scalars(select(Request).order_by(Request.id))
    ]
    entries = sorted(
        (a.actor, a.action, a.entity_id, json.dumps(a.before), json.dumps(a.after))
        for a in await session.scalars(select(AuditEntry).where(AuditEntry.id > 0))
    )
    said = sorted(
        (
            m.chat_id,
            m.params.get("text", ""),
            json.dumps(
                [
                    [button["text"] for button in row]
                    for row in m.params.get("reply_markup", {}).get("inline_keyboard", [])
                ]
            ),
        )
        for m in await session.scalars(select(OutboxMessage))
    )
    return requests, entries, said


class _Undo(Exception):
    """Leave the transaction without committing it."""


async def test_a_mixed_batch_ends_as_breaching_its_requests_one_at_a_time(store: Store) -> None:
    monday = at(date(2026, 9, 14), 9)
    async with store.write() as session:
        world = await build_world(session, date(2026, 9, 14))
        # The estate's own limit for a decision at the branch: read for the batch at once.
        await set_rule(session, world.estate_id, Step.DECIDE, "*", "branch", 3)
        file = RequestKind.SERVICE
        unsigned = await file_request(session, world.households[R1], R1, file, "电梯停运", monday)
        signed = await file_request(session, world.households[R2], R2, file, "楼道灯坏了", monday)
        await sign(session, signed.request, HEAD1, monday)
        climbed = await file_request(session, world.households[R3], R3, file, "漏水", monday)
        await escalate(session, climbed.request, HEAD2, "需要物业", monday)
        resolved = await file_request(session, world.households[R1B], R1B, file, "门禁", monday)
        await sign(session, resolved.request, HEAD1, monday)
        await resolve(session, resolved.request, HEAD1, "已修好", monday)
        assert len({unsigned.request.id, signed.request.id, climbed.request.id}) == 3
    later = at(date(2026, 10, 9), 9)  # every deadline passed; none fall due a second time

    # The routine as it was: each request breached and told on its own, then left uncommitted.
    try:
        async with store.write() as session:
            overdue = await session.scalars(
                select(Request).where(Request.deadline_at <= later.now).order_by(Request.id)
            )
            for request in list(overdue):
                change = await breach(session, request, later)
                assert change is not None
                enqueue(session, await notices(session, change, DESK, later.today), None)
            await rows_of(session).write(session)
            one_by_one = await _after_the_scan(session)
            raise _Undo
    except _Undo:
        pass

    assert await check_deadlines(store, DESK, later) == 4
    async with store.read() as session:
        batched = await _after_the_scan(session)
    assert batched == one_by_one
    states = {(state, level) for _, state, level, *_ in batched[0]}
    assert states == {
        (State.ESCALATED, Level.BRANCH),
        (State.ESCALATED, Level.COMMUNITY),
        (State.CONFIRMED, Level.HEAD),
    }
    assert {action for _, action, *_ in batched[1]} >= {
        "request.breached",
        "request.closed_unrated",
    }
