"""The recurring pushes of an estate's week (规则), with the practice's defaults."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, String, Time, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base
from models.problem import Problem


class RuleKind(StrEnum):
    VISIT_LIST = "visit_list"  # 五一行动 weekly list to each head
    VISIT_NUDGE = "visit_nudge"  # what is still open on Friday
    CLEANING_EVE = "cleaning_eve"  # cleaning day reminder the evening before
    CLEANING_DAY = "cleaning_day"  # cleaning day reminder that morning
    ADVERT_CLEANUP = "advert_cleanup"  # 牛皮癣 clean-up prompt to heads
    FEE_REMINDER = "fee_reminder"  # to opted-in households, privately
    MEDIATION_DAY = "mediation_day"  # 周一矛调 reminder
    WEEKLY_SUMMARY = "weekly_summary"  # to the secretary
    DEADLINE_SCAN = "deadline_scan"  # request deadlines, every minute (scheduler/deadlines.py)


class Cadence(StrEnum):
    WEEKLY = "weekly"  # on `weekday` every week
    MONTHLY = "monthly"  # on `day` of every month
    FIRST_WEEKDAY = "first_weekday"  # the first `weekday` of every month
    EVERY_MINUTE = "every_minute"


@dataclass(frozen=True)
class Rule:
    """When a rule fires in the estate's local time; weekday 0 is Monday."""

    kind: RuleKind
    cadence: Cadence
    at: time
    weekday: int = 0
    day: int = 1
    enabled: bool = True

    def occurrences(self, zone: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
        """Every firing in (after, until], aware, in the zone, oldest first."""
        if self.cadence is Cadence.EVERY_MINUTE or not self.enabled:
            return []
        found = []
        day = after.astimezone(zone).date()
        last = until.astimezone(zone).date()
        while day <= last:
            if self.falls_on(day):
                moment = datetime.combine(day, self.at, zone)
                if after < moment <= until:
                    found.append(moment)
            day += timedelta(days=1)
        return found

    def falls_on(self, day: date) -> bool:
        if self.cadence is Cadence.WEEKLY:
            return day.weekday() == self.weekday
        if self.cadence is Cadence.MONTHLY:
            return day.day == self.day
        return day.weekday() == self.weekday and day.day <= 7


DEFAULTS: dict[RuleKind, Rule] = {
    rule.kind: rule
    for rule in (
        Rule(RuleKind.VISIT_LIST, Cadence.WEEKLY, time(8, 0), weekday=0),
        Rule(RuleKind.VISIT_NUDGE, Cadence.WEEKLY, time(17, 0), weekday=4),
        Rule(RuleKind.CLEANING_EVE, Cadence.WEEKLY, time(19, 0), weekday=4),
        Rule(RuleKind.CLEANING_DAY, Cadence.WEEKLY, time(8, 0), weekday=5),
        Rule(RuleKind.ADVERT_CLEANUP, Cadence.FIRST_WEEKDAY, time(9, 0), weekday=6),
        Rule(RuleKind.FEE_REMINDER, Cadence.MONTHLY, time(10, 0), day=5, enabled=False),
        Rule(RuleKind.MEDIATION_DAY, Cadence.WEEKLY, time(8, 0), weekday=0),
        Rule(RuleKind.WEEKLY_SUMMARY, Cadence.WEEKLY, time(9, 0), weekday=0),
        Rule(RuleKind.DEADLINE_SCAN, Cadence.EVERY_MINUTE, time(0, 0)),
    )
}
# Cleaning itself starts an hour after the morning reminder (Saturday 09:00 by default).
CLEANING_LEAD = timedelta(hours=1)
QUIET_FROM = time(21, 30)
QUIET_UNTIL = time(8, 0)
VISITS_PER_WEEK = 5
VISITS_RANGE = range(5, 11)


class ScheduleRule(Base):
    """An estate's own setting for one rule; a rule without a row keeps the default."""

    __tablename__ = "schedule_rule"

    estate_id: Mapped[int] = mapped_column(
        ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    at: Mapped[time] = mapped_column(Time)
    weekday: Mapped[int] = mapped_column(Integer, default=0)
    day: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(default=True)


class WeekSettings(Base):
    """An estate's quiet hours and how many households each head visits a week."""

    __tablename__ = "week_settings"

    estate_id: Mapped[int] = mapped_column(
        ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True
    )
    quiet_from: Mapped[time] = mapped_column(Time, default=QUIET_FROM)
    quiet_until: Mapped[time] = mapped_column(Time, default=QUIET_UNTIL)
    visits_per_week: Mapped[int] = mapped_column(Integer, default=VISITS_PER_WEEK)


@dataclass(frozen=True)
class Week:
    """What an estate's week runs on: its rules, quiet hours and weekly visit count."""

    rules: dict[RuleKind, Rule]
    quiet_from: time = QUIET_FROM
    quiet_until: time = QUIET_UNTIL
    visits_per_week: int = VISITS_PER_WEEK

    def not_before(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """When a push written at `moment` may go out: None now, else the end of quiet hours."""
        local = moment.astimezone(zone)
        clock = local.time()
        if self.quiet_from > self.quiet_until:
            quiet = clock >= self.quiet_from or clock < self.quiet_until
        else:
            quiet = self.quiet_from <= clock < self.quiet_until
        if not quiet:
            return None
        day = local.date()
        if clock >= self.quiet_until:
            day += timedelta(days=1)
        return datetime.combine(day, self.quiet_until, zone)


async def weeks_of(session: AsyncSession, estate_ids: list[int]) -> dict[int, Week]:
    """Every estate's week, defaults where it set nothing, in two statements."""
    rules: dict[int, dict[RuleKind, Rule]] = {e: dict(DEFAULTS) for e in estate_ids}
    for row in await session.scalars(
        select(ScheduleRule).where(ScheduleRule.estate_id.in_(estate_ids))
    ):
        kind = RuleKind(row.kind)
        rules[row.estate_id][kind] = replace(
            DEFAULTS[kind], at=row.at, weekday=row.weekday, day=row.day, enabled=row.enabled
        )
    settings = {
        s.estate_id: s
        for s in await session.scalars(
            select(WeekSettings).where(WeekSettings.estate_id.in_(estate_ids))
        )
    }
    weeks = {}
    for estate_id in estate_ids:
        found = settings.get(estate_id)
        if found is None:
            weeks[estate_id] = Week(rules[estate_id])
        else:
            weeks[estate_id] = Week(
                rules[estate_id], found.quiet_from, found.quiet_until, found.visits_per_week
            )
    return weeks


async def week_of(session: AsyncSession, estate_id: int) -> Week:
    return (await weeks_of(session, [estate_id]))[estate_id]


async def set_rule(
    session: AsyncSession,
    estate_id: int,
    kind: RuleKind,
    actor: str,
    *,
    at: time | None = None,
    weekday: int | None = None,
    day: int | None = None,
    enabled: bool | None = None,
) -> Rule:
    """Change one rule of an estate; None leaves a value as it is."""
    if weekday is not None and not 0 <= weekday <= 6:
        raise Problem("week.bad_weekday")
    if day is not None and not 1 <= day <= 28:
        raise Problem("week.bad_day")
    before = (await week_of(session, estate_id)).rules[kind]
    after = replace(
        before,
        at=at if at is not None else before.at,
        weekday=weekday if weekday is not None else before.weekday,
        day=day if day is not None else before.day,
        enabled=enabled if enabled is not None else before.enabled,
    )
    found = await session.get(ScheduleRule, (estate_id, kind.value))
    if found is None:
        found = ScheduleRule(estate_id=estate_id, kind=kind.value)
        session.add(found)
    found.at, found.weekday, found.day, found.enabled = (
        after.at,
        after.weekday,
        after.day,
        after.enabled,
    )
    audit(
        session,
        actor,
        "schedule.rule",
        "estate",
        estate_id,
        before=_described(before),
        after=_described(after),
    )
    return after


async def set_week(
    session: AsyncSession,
    estate_id: int,
    actor: str,
    *,
    quiet_from: time | None = None,
    quiet_until: time | None = None,
    visits_per_week: int | None = None,
) -> None:
    """Change an estate's quiet hours or weekly visit count; None leaves a value as it is."""
    if visits_per_week is not None and visits_per_week not in VISITS_RANGE:
        raise Problem("week.bad_visits", low=VISITS_RANGE[0], high=VISITS_RANGE[-1])
    found = await session.get(WeekSettings, estate_id)
    if found is None:
        found = WeekSettings(
            estate_id=estate_id,
            quiet_from=QUIET_FROM,
            quiet_until=QUIET_UNTIL,
            visits_per_week=VISITS_PER_WEEK,
        )
        session.add(found)
    before = _settings(found)
    if quiet_from is not None:
        found.quiet_from = quiet_from
    if quiet_until is not None:
        found.quiet_until = quiet_until
    if visits_per_week is not None:
        found.visits_per_week = visits_per_week
    audit(
        session, actor, "schedule.week", "estate", estate_id, before=before, after=_settings(found)
    )


def _described(rule: Rule) -> dict[str, object]:
    return {
        "kind": rule.kind.value,
        "at": rule.at.isoformat(timespec="minutes"),
        "weekday": rule.weekday,
        "day": rule.day,
        "enabled": rule.enabled,
    }


def _settings(found: WeekSettings) -> dict[str, object]:
    return {
        "quiet_from": found.quiet_from.isoformat(timespec="minutes"),
        "quiet_until": found.quiet_until.isoformat(timespec="minutes"),
        "visits_per_week": found.visits_per_week,
    }


def parse_clock(text: str) -> time:
    """Read 08:00 or 8:00 as a time of day."""
    hour, sep, minute = text.strip().partition(":")
    try:
        parsed = time(int(hour), int(minute or 0))
    except ValueError:
        raise Problem("week.bad_time", value=text) from None
    if not sep and minute:
        raise Problem("week.bad_time", value=text)
    return parsed
