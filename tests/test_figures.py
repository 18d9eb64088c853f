"""The district's figures from a small hand-checked dataset, at every level and in every form."""

from __future__ import annotations

import gc
import io
import json
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select, update

from handlers.figures_chart import chart
from handlers.request_cards import Desk
from models.cleaning_day import CleaningDay, Held
from models.contact_card import ContactCard, cards_for
from models.figures import Period, Unit, parse_period, report
from models.outbox import OutboxMessage
from models.registry import Household
from models.request import Rating, Request, RequestKind
from models.request_flow import Clock, agree, file_request, rate, resolve, sign, withdraw
from models.role import RoleAssignment
from models.scope import resolve_scope
from models.simulation import Size
from models.store import Store
from models.visit import Visit, VisitState
from models.workdays import WorkCalendar
from scheduler.figures_week import push_weekly_figures
from tests.conftest import Cli
from tests.registry_factory import make_estate
from tests.request_world import COMMUNITY_STAFF, HEAD1, R1, R2, R3, STREET_STAFF, build_world

ZONE = ZoneInfo("Asia/Shanghai")
SEPTEMBER = Period(date(2026, 9, 1), date(2026, 9, 30))


def at(day: int, hour: int = 10) -> Clock:
    return Clock(WorkCalendar(), ZONE, datetime(2026, 9, day, hour, tzinfo=ZONE))


async def _district(store: Store) -> None:
    """芙蓉花园 (月塘街道/芙蓉社区) with two heads, four households, three cards and seven
    requests; 桂花苑 (荷塘街道/桂花社区) with one household and nothing else."""
    async with store.write() as session:
        world = await build_world(session, date(2026, 9, 1))
        households = sorted({h.id for h in world.households.values()})
        await cards_for(session, households, "test")
        # On the roster, heads and holding cards since the first of September.
        for model, column in (
            (ContactCard, "issued_at"),
            (RoleAssignment, "granted_at"),
            (Household, "created_at"),
        ):
            await session.execute(update(model).values({column: at(1).now}))
        await make_estate(
            session, street="荷塘街道", community="桂花社区", estate="桂花苑", rooms=("101",)
        )
    steps = []
    for user, kind in (
        (R1, RequestKind.OPINION),
        (R2, RequestKind.OPINION),
        (R3, RequestKind.OPINION),
        (R1, RequestKind.SERVICE),
        (R2, RequestKind.SERVICE),
        (R1, RequestKind.DISPUTE),
        (R3, RequestKind.DISPUTE),
    ):
        async with store.write() as session:
            household = await session.merge(world.households[user])
            change = await file_request(session, household, user, kind, "楼道灯坏了", at(14))
            steps.append(change.request.id)
    opinion_withdrawn, service, service_late, dispute = steps[2], steps[3], steps[4], steps[5]
    plan = [
        (opinion_withdrawn, withdraw, (R3, at(14, 11))),
        (service, sign, (HEAD1, at(14, 12))),  # 2 hours after filing
        (dispute, sign, (HEAD1, at(15))),  # 24 hours
        (service_late, sign, (HEAD1, at(30))),  # 384 hours: past its signing deadline
        (service, resolve, (HEAD1, "修好了", at(15))),  # resolved after 24 hours
        (dispute, agree, (HEAD1, "达成协议", at(21))),  # at the mediation day: 168 hours
        (service, rate, (R1, Rating.SATISFIED, at(16))),
    ]
    for request_id, step, args in plan:
        async with store.write() as session:
            request = await session.get_one(Request, request_id)
            await step(session, request, *args)


async def test_figures_at_every_level(store: Store) -> None:
    await _district(store)
    async with store.read() as session:
        district = await report(session, None, SEPTEMBER, ZONE)
        street = await resolve_scope(session, "street:月塘街道")
        by_street = await report(session, Unit("street", street.id, "月塘街道"), SEPTEMBER, ZONE)
        estate = await resolve_scope(session, "estate:芙蓉花园")
        one = await report(session, Unit("estate", estate.id, "芙蓉花园"), SEPTEMBER, ZONE)
    total = district.total.figures
    assert (
        total.heads_in_office,
        total.households_served,
        total.cards_issued,
        total.opinions_collected,
        total.disputes_mediated,
        total.services_resolved,
    ) == (2, 4, 3, 3, 1, 1)
    assert total.signed_in_time == 2 / 3 and total.resolved_in_time == 1.0
    assert total.satisfaction == 1.0
    assert total.median_hours_to_sign == 24.0 and total.median_hours_to_resolve == 96.0
    assert total.settled_at == {"head": 2, "branch": 0, "community": 0, "street": 0}
    # The district's parts are its streets; the quiet one counts nothing and rates nothing.
    assert [line.unit.name for line in district.parts] == ["月塘街道", "荷塘街道"]
    quiet = district.parts[1].figures
    assert quiet.households_served == 0 and quiet.opinions_collected == 0
    assert quiet.signed_in_time is None and quiet.median_hours_to_sign is None
    assert district.parts[0].figures == total
    assert by_street.total.figures == total
    assert [line.unit.name for line in by_street.parts] == ["芙蓉社区"]
    assert one.total.figures == total and [p.unit.name for p in one.parts] == ["芙蓉花园"]


async def test_the_report_command_in_every_form(store: Store, cli: Cli, tmp_path: Path) -> None:
    await _district(store)
    table = cli("report", "--period", "2026-09")
    assert table.exit_code == 0, table.output
    assert "统计期间：2026-09-01 至 2026-09-30" in table.output
    assert "单位=全区" in table.output and "收集社情民意=3" in table.output
    assert "按时签收率=66.7%" in table.output and "邻长办结=2" in table.output

    shown = cli(
        "report", "--scope", "community:芙蓉社区", "--period", "2026-09", "--format", "json"
    )
    data = json.loads(shown.output)
    assert data["total"]["opinions_collected"] == 3 and data["total"]["cards_issued"] == 3
    assert [part["unit"]["name"] for part in data["parts"]] == ["芙蓉花园"]

    sheet_path = tmp_path / "figures.xlsx"
    written = cli("report", "--period", "2026-09", "--format", "xlsx", "--out", str(sheet_path))
    assert written.exit_code == 0, written.output
    sheet = load_workbook(sheet_path).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("单位", "在任邻长") and rows[1][0] == "全区"
    assert rows[1][1:7] == (2, 4, 3, 3, 1, 1) and rows[1][10] == 2 / 3
    assert [row[0] for row in rows[2:]] == ["月塘街道", "荷塘街道"]

    october = cli("report", "--period", "2026-10", "--format", "json")
    assert json.loads(october.output)["total"]["opinions_collected"] == 0
    assert cli("report", "--period", "September").exit_code != 0


def test_periods() -> None:
    today = date(2026, 12, 3)
    assert parse_period("2026", today) == Period(date(2026, 1, 1), date(2026, 12, 31))
    assert parse_period("2026-12", today) == Period(date(2026, 12, 1), date(2026, 12, 31))
    assert parse_period("2026-02", today).last == date(2026, 2, 28)
    assert parse_period("week", today) == Period(date(2026, 11, 27), today)
    assert parse_period("2026-11-01..2026-11-15", today).last == date(2026, 11, 15)


async def test_the_chart_draws_chinese_not_boxes(store: Store, cli: Cli, tmp_path: Path) -> None:
    await _district(store)
    async with store.read() as session:
        district = await report(session, None, SEPTEMBER, ZONE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = chart(district, "zh_CN")
    # matplotlib warns for every character its font has no glyph for (it draws a box).
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    image = Image.open(io.BytesIO(drawn))
    assert image.format == "PNG" and image.width >= 600
    path = tmp_path / "figures.png"
    written = cli("report", "--period", "2026-09", "--format", "png", "--out", str(path))
    assert written.exit_code == 0, written.output
    assert Image.open(path).format == "PNG"


async def test_a_chart_leaves_no_figure_behind_for_the_rare_full_collection(
    store: Store,
) -> None:
    from matplotlib.figure import Figure

    await _district(store)
    async with store.read() as session:
        district = await report(session, None, SEPTEMBER, ZONE)
    gc.collect()  # what earlier tests left
    # The bot collects its oldest generation rarely; here not at all unless asked.
    gc.disable()
    try:
        for _ in range(3):
            chart(district, "zh_CN")
        alive = [o for o in gc.get_objects() if isinstance(o, Figure)]
    finally:
        gc.enable()
    assert alive == []


async def test_a_simulated_district_reports_its_own_size(store: Store, cli: Cli) -> None:
    done = cli("simulate", "--scale", "0.02", "--year", "2026")
    assert done.exit_code == 0, done.output
    size = Size().scaled(0.02)
    async with store.read() as session:
        district = await report(session, None, parse_period("2026", date(2027, 1, 1)), ZONE)
    total = district.total.figures
    assert total.heads_in_office == size.groups
    assert total.households_served == total.cards_issued == size.households
    assert total.opinions_collected == size.opinions
    assert (total.disputes_mediated, total.services_resolved) == (size.disputes, size.services)
    assert len(district.parts) == 7  # the streets of Hetang
    again = cli("simulate", "--scale", "0.02")
    assert again.exit_code != 0 and "空数据库" in again.output


async def test_monday_figures_reach_community_and_street_staff_once(store: Store) -> None:
    await _district(store)
    desk = Desk(ZONE, "zh_CN")
    assert await push_weekly_figures(store, desk, at(21, 8).now) == 0  # Monday, before nine
    monday = at(21, 10).now
    assert await push_weekly_figures(store, desk, monday) == 2  # the community and the street
    # A second run, a restart, a second process: nothing twice.
    assert await push_weekly_figures(store, desk, monday + timedelta(hours=1)) == 0
    async with store.read() as session:
        sent = {m.chat_id: m.params["text"] for m in await session.scalars(select(OutboxMessage))}
    assert set(sent) == {COMMUNITY_STAFF, STREET_STAFF}
    assert sent[COMMUNITY_STAFF].startswith(
        "【上周统计】\n芙蓉社区 统计（2026-09-14 至 2026-09-20）"
    )
    assert "收集社情民意：3" in sent[STREET_STAFF]


async def test_the_week_counts_visits_coverage_and_cleaning_days(store: Store) -> None:
    await _district(store)
    async with store.write() as session:
        households = sorted(await session.scalars(select(Household.id).where(Household.unit != "")))
        building = await session.scalar(select(Household.building_id))
        week = date(2026, 9, 14)
        for household, state in (
            (households[0], VisitState.VISITED),
            (households[1], VisitState.VISITED),
            (households[2], VisitState.NOT_HOME),
        ):
            session.add(Visit(household_id=household, head_user_id=HEAD1, week=week, state=state))
        session.add(Visit(household_id=households[0], head_user_id=HEAD1, week=date(2026, 10, 5)))
        session.add(CleaningDay(building_id=building, day=date(2026, 9, 19), state=Held.HELD))
        session.add(CleaningDay(building_id=building, day=date(2026, 9, 26), state=Held.NOT_HELD))
    async with store.read() as session:
        figures = (await report(session, None, SEPTEMBER, ZONE)).total.figures
    assert (figures.visits_done, figures.visits_planned, figures.cleaning_days_held) == (2, 3, 1)
    assert figures.visit_coverage == 2 / 4  # of the four households served by a head
