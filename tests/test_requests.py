"""Requests in the domain: routing, lifecycle, refusals, races, deadlines, counters."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from models.audit import AuditEntry
from models.mediation import mediation_of
from models.problem import Problem
from models.request import Level, Rating, Request, RequestKind, State
from models.request_counts import counters
from models.request_flow import (
    Clock,
    add_progress,
    agree,
    assign,
    breach,
    escalate,
    file_request,
    no_agreement,
    not_ours,
    rate,
    resolve,
    send_down,
    send_up,
    sign,
    withdraw,
)
from models.role import Force, RoleAssignment
from models.store import Store
from models.workdays import WorkCalendar, parse_schedule
from tests.conftest import Cli
from tests.request_world import (
    COMMUNITY_STAFF,
    HEAD1,
    HEAD2,
    PROPERTY_A,
    PROPERTY_B,
    R1,
    R1B,
    R2,
    R3,
    SECRETARY,
    STREET_STAFF,
    World,
    build_world,
)

ZONE = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 10, minute: int = 0) -> Clock:
    """A clock frozen at a local time in Zhuzhou."""
    return Clock(
        WorkCalendar(), ZONE, datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
    )


async def _world(store: Store, day: date = date(2026, 9, 14)) -> World:
    async with store.write() as session:
        return await build_world(session, day)


async def _file(
    store: Store, world: World, user: int, kind: RequestKind, clock: Clock, text: str = "楼道灯坏了"
) -> int:
    async with store.write() as session:
        household = await session.merge(world.households[user])
        change = await file_request(session, household, user, kind, text, clock)
        return change.request.id


async def _act(store: Store, request_id: int, step, *args, **kwargs):  # type: ignore[no-untyped-def]
    async with store.write() as session:
        request = await session.get_one(Request, request_id)
        return await step(session, request, *args, **kwargs)


async def _audit_actions(store: Store, reference: str) -> list[str]:
    async with store.read() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "request", AuditEntry.entity_id == reference)
            .order_by(AuditEntry.id)
        )
        return list(rows)


@pytest.mark.parametrize("kind", list(RequestKind))
async def test_each_kind_lives_its_whole_life_and_every_step_is_audited(
    store: Store, kind: RequestKind
) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))  # a Monday
    request_id = await _file(store, world, R1, kind, clock)
    for step, args in (
        (sign, (HEAD1, clock)),
        (add_progress, (HEAD1, "已联系物业", clock)),
        (resolve, (HEAD1, "换了灯泡", clock)),
        (rate, (R1B, Rating.SATISFIED, clock)),  # anyone of the household answers the visit
    ):
        await _act(store, request_id, step, *args)

    async with store.read() as session:
        request = await session.get_one(Request, request_id)
        assert request.state == State.CONFIRMED and request.rating == Rating.SATISFIED
        assert request.reference.startswith("FRHY-2026-")
        assert request.closed_at is not None
        found = await counters(session)
    booked = ["mediation.book"] if kind is RequestKind.DISPUTE else []
    assert await _audit_actions(store, request.reference) == [
        "request.filed",
        *booked,
        "request.signed",
        "request.progress",
        "request.resolved",
        "request.confirmed",
    ]
    expected = {
        RequestKind.OPINION: (1, 0, 0),
        RequestKind.DISPUTE: (0, 1, 0),
        RequestKind.SERVICE: (0, 0, 1),
    }[kind]
    assert (found.opinions_collected, found.disputes_mediated, found.services_resolved) == expected


async def test_references_are_unique_and_numbered_across_the_district(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    ids = [await _file(store, world, user, RequestKind.SERVICE, clock) for user in (R1, R2, R3)]
    async with store.read() as session:
        refs = [(await session.get_one(Request, i)).reference for i in ids]
    assert refs == ["FRHY-2026-000001", "FRHY-2026-000002", "FRHY-2026-000003"]


async def test_escalation_climbs_with_the_secretarys_approval_and_comes_back_down(
    store: Store,
) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    request_id = await _file(store, world, R1, RequestKind.SERVICE, clock)
    await _act(store, request_id, sign, HEAD1, clock)
    change = await _act(store, request_id, escalate, HEAD1, "需要物业维修电路", clock)
    assert (change.request.state, change.request.level) == (State.ESCALATED, Level.BRANCH)

    # A head cannot approve; the secretary sends it to the property company.
    with pytest.raises(Problem, match=r"request\.not_allowed"):
        await _act(store, request_id, assign, HEAD1, clock, force=Force.PROPERTY)
    await _act(store, request_id, assign, SECRETARY, clock, force=Force.PROPERTY, days=2)
    await _act(store, request_id, sign, PROPERTY_B, clock)
    await _act(store, request_id, resolve, PROPERTY_B, "电工已修好", clock)

    # Not satisfied: reopened with the same handler once, then it climbs a level.
    change = await _act(store, request_id, rate, R1, Rating.DISSATISFIED, clock)
    assert change.request.state == State.REOPENED and change.request.handler_user_id == PROPERTY_B
    await _act(store, request_id, resolve, PROPERTY_B, "再次检修", clock)
    change = await _act(store, request_id, rate, R1, Rating.DISSATISFIED, clock)
    assert (change.request.state, change.request.level) == (State.ESCALATED, Level.COMMUNITY)

    # The community sends it back down to the branch with an instruction.
    await _act(store, request_id, send_down, COMMUNITY_STAFF, "请支部协调业委会", clock)
    async with store.read() as session:
        request = await session.get_one(Request, request_id)
        assert (request.state, request.level) == (State.ESCALATED, Level.BRANCH)
    actions = await _audit_actions(store, request.reference)
    assert actions[-3:] == ["request.resolved", "request.escalated", "request.sent_down"]


async def test_no_head_routes_to_the_branch_and_not_ours_returns_to_it(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    # R3's group has a head; the head says it is not theirs, the branch decides.
    request_id = await _file(store, world, R3, RequestKind.OPINION, clock)
    change = await _act(store, request_id, not_ours, HEAD2, "属于物业合同范围", clock)
    assert (change.request.state, change.request.level) == (State.RETURNED, Level.BRANCH)
    change = await _act(store, request_id, send_down, SECRETARY, "请邻长先上门了解", clock)
    assert (change.request.state, change.request.handler_user_id) == (State.SUBMITTED, HEAD2)
    # Back at the head's level, the branch has nothing to decide.
    with pytest.raises(Problem, match=r"request\.not_allowed"):
        await _act(store, request_id, send_up, SECRETARY, "上报社区", clock)


async def test_refusals_change_nothing(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    request_id = await _file(store, world, R1, RequestKind.SERVICE, clock)
    async with store.read() as session:
        before = (await session.get_one(Request, request_id)).snapshot()
        audits = await session.scalar(select(func.count()).select_from(AuditEntry))
    attempts = [
        (sign, (HEAD2, clock)),  # the head of another group
        (sign, (R1, clock)),  # the resident themselves
        (assign, (SECRETARY, clock)),  # a decision while it is the head's to sign
        (withdraw, (R2, clock)),  # a neighbour of another household
        (rate, (R1, Rating.SATISFIED, clock)),  # rating before it is resolved
    ]
    for step, args in attempts:
        with pytest.raises(Problem):
            await _act(store, request_id, step, *args)
    async with store.read() as session:
        request = await session.get_one(Request, request_id)
        assert request.snapshot() == before and request.version == 1
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audits
    await _act(store, request_id, withdraw, R1B, clock)


async def test_a_refusal_caught_in_the_same_transaction_changes_nothing(store: Store) -> None:
    """A handler answers a refusal and its transaction commits: the request, its version
    included, must be as before, or a concurrent legitimate press would lose its claim."""
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    request_id = await _file(store, world, R1, RequestKind.SERVICE, clock)
    await _act(store, request_id, escalate, HEAD1, "需要支部协调", clock)
    # At the branch: "not ours" is the head's step only; sending down needs a head.
    async with store.write() as session:
        await session.execute(
            update(RoleAssignment)
            .where(RoleAssignment.user_id == HEAD1)
            .values(revoked_at=clock.now)
        )

    async def refused(step, *args) -> None:  # type: ignore[no-untyped-def]
        async with store.write() as session:
            request = await session.get_one(Request, request_id)
            version = request.version
            with pytest.raises(Problem):
                await step(session, request, *args)
        async with store.read() as session:
            assert (await session.get_one(Request, request_id)).version == version, step

    await refused(send_down, SECRETARY, "请邻长处理", clock)
    # The secretary keeps it; a stale "not ours" (the head's step) is refused.
    await _act(store, request_id, assign, SECRETARY, clock)
    await refused(not_ours, SECRETARY, "不归我们", clock)
    # At the top, sending up is refused the same way.
    await _act(store, request_id, escalate, SECRETARY, "需要街道", clock)
    async with store.write() as session:
        await session.execute(
            update(Request).where(Request.id == request_id).values(level=Level.STREET.value)
        )
    await refused(send_up, STREET_STAFF, "再上报", clock)


async def test_two_handlers_signing_at_once_one_wins(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    request_id = await _file(store, world, R1, RequestKind.SERVICE, clock)
    await _act(store, request_id, escalate, HEAD1, "需要物业", clock)
    await _act(store, request_id, assign, SECRETARY, clock, force=Force.PROPERTY)

    async def try_sign(user: int) -> str:
        try:
            await _act(store, request_id, sign, user, clock)
        except Problem as problem:
            return problem.key
        return "signed"

    outcomes = await asyncio.gather(try_sign(PROPERTY_A), try_sign(PROPERTY_B))
    assert sorted(outcomes) == ["request.already", "signed"]
    async with store.read() as session:
        request = await session.get_one(Request, request_id)
        winner = PROPERTY_A if outcomes[0] == "signed" else PROPERTY_B
        assert request.handler_user_id == winner and request.state == State.SIGNED
    assert (await _audit_actions(store, request.reference)).count("request.signed") == 1


async def test_breach_climbs_at_the_working_day_deadline_across_an_adjusted_weekend(
    store: Store,
) -> None:
    world = await _world(store)
    # Friday 18 September 2026; Sunday the 20th is a working day (调休 for National Day).
    request_id = await _file(store, world, R1, RequestKind.SERVICE, at(date(2026, 9, 18), 15))
    async with store.read() as session:
        request = await session.get_one(Request, request_id)
        assert request.deadline_at == datetime(2026, 9, 20, 18, 0, tzinfo=ZONE)
    assert await _overdue(store, at(date(2026, 9, 20), 17, 59)) == []
    changes = await _overdue(store, at(date(2026, 9, 20), 18, 1))
    assert changes == [(State.ESCALATED, Level.BRANCH, "breached")]


async def test_resolve_deadline_skips_a_public_holiday_and_lands_on_a_worked_saturday(
    store: Store,
) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 30), 9)  # Wednesday before the National Day week
    request_id = await _file(store, world, R1, RequestKind.SERVICE, clock)
    change = await _act(store, request_id, sign, HEAD1, clock)
    # 1–7 October off; Thu 8, Fri 9, and Saturday 10 October worked (调休): three working days.
    assert change.request.deadline_at == datetime(2026, 10, 10, 18, 0, tzinfo=ZONE)


async def test_an_unanswered_return_visit_closes_unrated(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    request_id = await _file(store, world, R1, RequestKind.OPINION, clock)
    await _act(store, request_id, sign, HEAD1, clock)
    await _act(store, request_id, resolve, HEAD1, "已向物业转达", clock)
    # Three working days after Monday 14th: Thursday 17th at six.
    assert await _overdue(store, at(date(2026, 9, 17), 17)) == []
    assert await _overdue(store, at(date(2026, 9, 17), 19)) == [
        (State.CONFIRMED, Level.HEAD, "closed_unrated")
    ]


async def _overdue(store: Store, clock: Clock) -> list[tuple[str, str, str]]:
    async with store.write() as session:
        due = await session.scalars(
            select(Request).where(Request.deadline_at <= clock.now).order_by(Request.id)
        )
        changes = [await breach(session, request, clock) for request in list(due)]
        return [(c.request.state, c.request.level, c.action) for c in changes if c]


def test_years_without_a_published_schedule_fall_back_and_can_be_imported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    WorkCalendar._warned.discard(2027)
    calendar = WorkCalendar()
    assert not calendar.is_workday(date(2027, 1, 1))  # New Year's Day is fixed
    assert calendar.is_workday(date(2027, 1, 4))  # a Monday
    assert not calendar.is_workday(date(2027, 2, 6))  # a Saturday, as far as anyone knows
    assert calendar.is_workday(date(2027, 2, 8))
    assert WorkCalendar().is_workday(date(2027, 2, 9))  # a calendar loaded for the next step
    assert caplog.text.count("no official holiday schedule for 2027") == 1

    schedule = parse_schedule("# 2027 春节\n2027-02-06 workday 春节调休\n2027-02-08 holiday 春节\n")
    official = WorkCalendar({day: workday for day, workday, _ in schedule})
    assert official.is_workday(date(2027, 2, 6)) and not official.is_workday(date(2027, 2, 8))
    with pytest.raises(Problem, match=r"calendar\.bad_line"):
        parse_schedule("2027-02-30 holiday")


async def test_a_dispute_is_mediated_on_the_next_monday_and_the_agreement_recorded(
    store: Store,
) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 16))  # a Wednesday
    async with store.write() as session:
        household = await session.merge(world.households[R1])
        other = world.households[R2].id
        change = await file_request(
            session, household, R1, RequestKind.DISPUTE, "楼上漏水", clock, other_household_id=other
        )
        request_id = change.request.id
    change = await _act(store, request_id, sign, HEAD1, clock)
    assert change.request.deadline_at == datetime(2026, 9, 21, 18, 0, tzinfo=ZONE)
    async with store.read() as session:
        mediation = await mediation_of(session, request_id)
        assert mediation is not None and mediation.day == date(2026, 9, 21)
        assert mediation.mediator_user_id == HEAD1
    monday = at(date(2026, 9, 21), 16)
    change = await _act(store, request_id, agree, HEAD1, "楼上修好防水，赔偿五百元", monday)
    assert change.request.state == State.RESOLVED
    async with store.read() as session:
        mediation = await mediation_of(session, request_id)
        assert mediation is not None and mediation.outcome == "agreed"
        assert mediation.agreement == "楼上修好防水，赔偿五百元"
        assert mediation.follow_up_at == datetime(2026, 9, 28, 16, 0, tzinfo=ZONE)
        found = await counters(session)
    assert found.disputes_mediated == 1
    with pytest.raises(Problem, match=r"request\.already"):
        await _act(store, request_id, no_agreement, HEAD1, "又吵起来了", monday)


async def test_a_failed_mediation_climbs_and_a_holiday_monday_moves_the_day(store: Store) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 30))  # the Monday after is 5 October, inside the holiday
    request_id = await _file(store, world, R1, RequestKind.DISPUTE, clock, "停车位纠纷")
    change = await _act(store, request_id, sign, HEAD1, clock)
    assert change.request.deadline_at == datetime(2026, 10, 8, 18, 0, tzinfo=ZONE)
    change = await _act(
        store, request_id, no_agreement, HEAD1, "双方各执一词", at(date(2026, 10, 8))
    )
    assert (change.request.state, change.request.level) == (State.ESCALATED, Level.BRANCH)
    async with store.read() as session:
        mediation = await mediation_of(session, request_id)
        assert mediation is not None and mediation.outcome == "failed"
        assert mediation.follow_up_at is None


async def test_the_reported_figures_match_what_was_filed(store: Store, cli: Cli) -> None:
    world = await _world(store)
    clock = at(date(2026, 9, 14))
    # Three opinions (one withdrawn still counts as collected), two services of which one is
    # resolved, one dispute mediated to an agreement and one still open.
    opinions = [await _file(store, world, u, RequestKind.OPINION, clock) for u in (R1, R2, R3)]
    await _act(store, opinions[2], withdraw, R3, clock)
    services = [await _file(store, world, u, RequestKind.SERVICE, clock) for u in (R1, R2)]
    await _act(store, services[0], sign, HEAD1, clock)
    await _act(store, services[0], resolve, HEAD1, "修好了", clock)
    disputes = [await _file(store, world, u, RequestKind.DISPUTE, clock) for u in (R1, R3)]
    await _act(store, disputes[0], sign, HEAD1, clock)
    await _act(store, disputes[0], agree, HEAD1, "达成协议", clock)

    async with store.read() as session:
        found = await counters(session)
    assert (found.opinions_collected, found.disputes_mediated, found.services_resolved) == (3, 1, 1)
    assert found.households_linked == 3  # R1 and R1B share a household
    # The district's report is tested in tests/test_figures.py.
