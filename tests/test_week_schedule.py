"""Changing an estate's week: `linzhang schedule` and the secretary's /schedule words."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select

from models.audit import AuditEntry
from models.schedule_rule import RuleKind, week_of
from models.store import Store
from tests.conftest import Cli
from tests.test_week import build_estate


async def test_schedule_show_and_set_on_the_command_line(store: Store, cli: Cli) -> None:
    estate_id = await build_estate(store)
    shown = cli("schedule", "show", "--estate", "芙蓉花园")
    assert shown.exit_code == 0, shown.output
    assert "· 五一行动走访名单：每周一 08:00" in shown.output
    assert "· 缴费提醒：每月5日 10:00（关闭）" in shown.output
    assert "免打扰时段：21:30–08:00" in shown.output and "visit_list" not in shown.output

    changed = cli("schedule", "set", "--estate", "芙蓉花园", "走访名单", "2", "09:30")
    assert changed.exit_code == 0, changed.output
    assert "· 五一行动走访名单：每周二 09:30" in changed.output
    assert cli("schedule", "set", "--estate", "芙蓉花园", "缴费提醒", "开").exit_code == 0
    assert cli("schedule", "set", "--estate", "芙蓉花园", "免打扰", "22:00", "07:30").exit_code == 0
    assert cli("schedule", "set", "--estate", "芙蓉花园", "走访", "8").exit_code == 0
    refused = cli("schedule", "set", "--estate", "芙蓉花园", "走访", "30")
    assert refused.exit_code != 0 and "5到10户" in refused.output
    async with store.read() as session:
        week = await week_of(session, estate_id)
        assert (week.rules[RuleKind.VISIT_LIST].weekday, week.rules[RuleKind.VISIT_LIST].at) == (
            1,
            time(9, 30),
        )
        assert week.rules[RuleKind.FEE_REMINDER].enabled
        assert (week.quiet_from, week.quiet_until, week.visits_per_week) == (
            time(22, 0),
            time(7, 30),
            8,
        )
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert actions.count("schedule.rule") == 2 and actions.count("schedule.week") == 2
