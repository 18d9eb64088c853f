"""Working days on the Chinese calendar: holidays and adjusted working days (调休).

The State Council publishes each year's schedule late in the year before; `chinesecalendar`
knows the years published when it was released. For a year it does not know, the calendar falls
back to Monday–Friday less the fixed-date holidays, says so once in the log, and an admin can
load the official schedule when it appears (`linzhang calendar import FILE`), which then wins.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import Boolean, Date, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.problem import Problem

log = logging.getLogger(__name__)

# Holidays whose Gregorian date never moves; the lunar ones need the published schedule.
FIXED_HOLIDAYS = {(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)}
# A deadline falls due at the end of the working day.
END_OF_DAY = time(18, 0)


class CalendarDay(Base):
    """One day of an imported official schedule: a holiday, or a weekend day worked (调休)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(32), default="")


class WorkCalendar:
    """Answer "is this a working day" from imported days, the library, or the fallback."""

    # Years already warned about, for the process: a calendar is loaded for every request step.
    _warned: set[int] = set()  # noqa: RUF012 - shared on purpose

    def __init__(self, imported: dict[date, bool] | None = None) -> None:
        self.imported = imported or {}
        self._years = {day.year for day in self.imported}

    @classmethod
    async def load(cls, session: AsyncSession) -> WorkCalendar:
        rows = await session.execute(select(CalendarDay.day, CalendarDay.workday))
        return cls({day: workday for day, workday in rows})

    def is_workday(self, day: date) -> bool:
        if day in self.imported:
            return self.imported[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if self._year_imported(day.year):
                return day.weekday() < 5  # the schedule lists every day off that is not a weekend
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning(
                    "no official holiday schedule for %s: using Monday-Friday less fixed-date "
                    "holidays; load it with `linzhang calendar import` once published",
                    day.year,
                )
            return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def add_workdays(self, start: date, days: int) -> date:
        """Return the working day `days` working days after `start` (0: start or the next)."""
        day = start
        if days == 0:
            while not self.is_workday(day):
                day += timedelta(days=1)
            return day
        while days > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                days -= 1
        return day

    def due(self, moment: datetime, days: int, zone: ZoneInfo) -> datetime:
        """The end of the working day `days` working days after a moment, local time."""
        local = moment.astimezone(zone)
        return datetime.combine(self.add_workdays(local.date(), days), END_OF_DAY, zone)

    def _year_imported(self, year: int) -> bool:
        return year in self._years


def parse_schedule(text: str) -> list[tuple[date, bool, str]]:
    """Read the import format: one `YYYY-MM-DD holiday|workday [name]` per line, # comments."""
    days = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(maxsplit=2)
        try:
            day = date.fromisoformat(parts[0])
            kind = parts[1].lower()
        except (IndexError, ValueError):
            raise Problem("calendar.bad_line", line=number, text=raw.strip()) from None
        if kind not in ("holiday", "workday"):
            raise Problem("calendar.bad_line", line=number, text=raw.strip())
        days.append((day, kind == "workday", parts[2] if len(parts) > 2 else ""))
    return days


async def import_schedule(session: AsyncSession, days: list[tuple[date, bool, str]]) -> int:
    """Store an official schedule; a day given again replaces what was there. Return the count."""
    for day, workday, name in days:
        found = await session.get(CalendarDay, day)
        if found is None:
            session.add(CalendarDay(day=day, workday=workday, name=name))
        else:
            found.workday, found.name = workday, name
    return len(days)
