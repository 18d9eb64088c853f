"""The figures the district reports, for any unit and period, counted from what the bot holds.

Definitions (docs/figures.md says the same in words for the district):
- heads in office: people holding the neighbour-head role of a group at the period's end;
- households served: households on the roster at the end whose group has a head in office;
- cards issued: households holding a contact card in force at the end;
- opinions collected: opinions filed in the period;
- disputes mediated, services resolved: disputes and service needs resolved in the period and
  not reopened since;
- signed in time, resolved in time: of the requests signed (resolved) in the period, the share
  done by the deadline that step had; median hours from filing to signing and to resolving;
- satisfaction: of the requests rated in the period, the share rated 满意 or 基本满意;
- visits done and planned: the five-ones visits on the lists of the weeks that begin in the
  period, and those done; visit coverage: the households served visited at least once;
- cleaning days held: cleaning days in the period a head marked held;
- election turnout: of the households on the rolls of the elections counted whose voting was
  due to end in the period, the share that voted;
- settled at: the level (head, branch, community, street) of the requests resolved in the period.

Each figure is counted per estate, in one statement per kind of row, and summed for larger
units, so one reading serves every level.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from models.ballot import Participation
from models.cleaning_day import CleaningDay, Held
from models.contact_card import ContactCard
from models.election import Election, Phase
from models.registry import Building, Community, Estate, Household, NeighbourGroup, Street
from models.request import Rating, Request, RequestKind, State
from models.role import Role, RoleAssignment
from models.scope import ScopeKind
from models.visit import Visit, VisitState

SETTLED = (State.RESOLVED.value, State.CONFIRMED.value)
CONTENT = (Rating.SATISFIED.value, Rating.FAIRLY.value)
LEVELS = ("head", "branch", "community", "street")


@dataclass(frozen=True)
class Period:
    """Whole days, the last included, in the district's time zone."""

    first: date
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        # In UTC, as the database gives times back: comparing datetimes of one tzinfo skips a
        # zone lookup per comparison (tens of thousands in a district's year).
        start = datetime.combine(self.first, time(), zone)
        end = datetime.combine(self.last + timedelta(days=1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def parse_period(text: str, today: date) -> Period:
    """`2026`, `2026-11`, `2026-11-01..2026-11-30`, or `week` (the last seven days)."""
    text = text.strip()
    if text == "week":
        return Period(today - timedelta(days=6), today)
    if ".." in text:
        first, last = text.split("..", 1)
        return Period(date.fromisoformat(first), date.fromisoformat(last))
    parts = text.split("-")
    if len(parts) == 1:
        year = int(parts[0])
        return Period(date(year, 1, 1), date(year, 12, 31))
    if len(parts) == 2:
        year, month = int(parts[0]), int(parts[1])
        following = date(year + month // 12, month % 12 + 1, 1)
        return Period(date(year, month, 1), following - timedelta(days=1))
    day = date.fromisoformat(text)
    return Period(day, day)


@dataclass
class Tally:
    """What one estate (or a sum of estates) counted; rates are computed from it."""

    heads: int = 0
    served: int = 0
    cards: int = 0
    opinions: int = 0
    disputes: int = 0
    services: int = 0
    signed: int = 0
    signed_in_time: int = 0
    resolved: int = 0
    resolved_in_time: int = 0
    rated: int = 0
    content: int = 0
    roll: int = 0
    voted: int = 0
    visits_planned: int = 0
    visits_done: int = 0
    visited_households: int = 0
    cleaning_held: int = 0
    sign_hours: list[float] = field(default_factory=list)
    resolve_hours: list[float] = field(default_factory=list)
    settled_at: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in ("heads", "served", "cards", "opinions", "disputes", "services"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("signed", "signed_in_time", "resolved", "resolved_in_time"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rated += other.rated
        self.content += other.content
        self.roll += other.roll
        self.voted += other.voted
        self.visits_planned += other.visits_planned
        self.visits_done += other.visits_done
        self.visited_households += other.visited_households
        self.cleaning_held += other.cleaning_held
        self.sign_hours += other.sign_hours
        self.resolve_hours += other.resolve_hours
        self.settled_at.update(other.settled_at)


@dataclass(frozen=True)
class Figures:
    heads_in_office: int
    households_served: int
    cards_issued: int
    opinions_collected: int
    disputes_mediated: int
    services_resolved: int
    visits_done: int
    visits_planned: int
    cleaning_days_held: int
    signed_in_time: float | None
    resolved_in_time: float | None
    satisfaction: float | None
    election_turnout: float | None
    visit_coverage: float | None
    median_hours_to_sign: float | None
    median_hours_to_resolve: float | None
    settled_at: dict[str, int]

    @classmethod
    def of(cls, tally: Tally) -> Figures:
        return cls(
            heads_in_office=tally.heads,
            households_served=tally.served,
            cards_issued=tally.cards,
            opinions_collected=tally.opinions,
            disputes_mediated=tally.disputes,
            services_resolved=tally.services,
            visits_done=tally.visits_done,
            visits_planned=tally.visits_planned,
            cleaning_days_held=tally.cleaning_held,
            signed_in_time=_share(tally.signed_in_time, tally.signed),
            resolved_in_time=_share(tally.resolved_in_time, tally.resolved),
            satisfaction=_share(tally.content, tally.rated),
            election_turnout=_share(tally.voted, tally.roll),
            visit_coverage=_share(tally.visited_households, tally.served),
            median_hours_to_sign=_median(tally.sign_hours),
            median_hours_to_resolve=_median(tally.resolve_hours),
            settled_at={level: tally.settled_at.get(level, 0) for level in LEVELS},
        )


DISTRICT = "district"


@dataclass(frozen=True)
class Unit:
    """The district, a street, a community or an estate (kind: a ScopeKind value or DISTRICT)."""

    kind: str
    id: int
    name: str


@dataclass(frozen=True)
class Line:
    unit: Unit
    figures: Figures


@dataclass(frozen=True)
class Report:
    """The figures of a unit, then of each unit one level below it."""

    period: Period
    total: Line
    parts: list[Line]


async def report(
    session: AsyncSession, unit: Unit | None, period: Period, zone: ZoneInfo
) -> Report:
    """Count the period's figures for a unit (None: the district) and the units below it."""
    tree = await _tree(session)
    estates = [e for e, _ in tree.items() if unit is None or _within(tree[e], unit)]
    tallies = await tally_estates(session, estates, period, zone, whole_district=unit is None)
    total = Tally()
    for estate in estates:
        total.add(tallies[estate])
    below = _below(unit)
    groups: dict[Unit, Tally] = {}
    for estate in estates:
        part = tree[estate][below]
        groups.setdefault(part, Tally()).add(tallies[estate])
    whole = unit or Unit(DISTRICT, 0, "")
    return Report(
        period,
        Line(whole, Figures.of(total)),
        [Line(part, Figures.of(t)) for part, t in sorted(groups.items(), key=lambda p: p[0].name)],
    )


async def tally_estates(
    session: AsyncSession,
    estates: list[int],
    period: Period,
    zone: ZoneInfo,
    *,
    whole_district: bool = False,
) -> dict[int, Tally]:
    """Count every figure per estate, one statement per kind of row."""
    tallies = {estate: Tally() for estate in estates}
    if not estates:
        return tallies
    start, end = period.bounds(zone)
    # Named estates are found through their buildings (a street's figures read its rows
    # only); the whole district is read straight through, faster than estate by estate.
    wanted = true() if whole_district else Building.estate_id.in_(estates)
    head_groups = _heads_in_office(period.last, end)
    for estate, count in await session.execute(
        select(Building.estate_id, func.count(func.distinct(RoleAssignment.user_id)))
        .join(NeighbourGroup, NeighbourGroup.id == RoleAssignment.scope_id)
        .join(Building, Building.id == NeighbourGroup.building_id)
        .where(head_groups, wanted)
        .group_by(Building.estate_id)
    ):
        tallies[estate].heads = count
    on_roll = or_(Household.removed_at.is_(None), Household.removed_at >= end)
    served = select(RoleAssignment.scope_id).where(head_groups)
    for estate, count in await session.execute(
        select(Building.estate_id, func.count())
        .join(Household, Household.building_id == Building.id)
        .where(wanted, on_roll, Household.created_at < end)
        .where(Household.neighbour_group_id.in_(served))
        .group_by(Building.estate_id)
    ):
        tallies[estate].served = count
    for estate, count in await session.execute(
        select(Building.estate_id, func.count(func.distinct(ContactCard.household_id)))
        .join(Household, Household.id == ContactCard.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(wanted, ContactCard.issued_at < end)
        .where(or_(ContactCard.revoked_at.is_(None), ContactCard.revoked_at >= end))
        .group_by(Building.estate_id)
    ):
        tallies[estate].cards = count
    _count_requests(tallies, await _requests(session, estates, start, end), start, end)
    counted = and_(
        Election.voting_ends >= start,
        Election.voting_ends < end,
        Election.phase.not_in([Phase.NOMINATION.value, Phase.VOTING.value]),
        wanted,
    )
    elections = select(Election).join(NeighbourGroup, NeighbourGroup.id == Election.group_id)
    elections = elections.join(Building, Building.id == NeighbourGroup.building_id)
    for estate, roll in await session.execute(
        elections.with_only_columns(Building.estate_id, func.sum(Election.roll_size))
        .where(counted)
        .group_by(Building.estate_id)
    ):
        tallies[estate].roll = int(roll or 0)
    for estate, voted in await session.execute(
        elections.with_only_columns(Building.estate_id, func.count())
        .join(Participation, Participation.election_id == Election.id)
        .where(counted)
        .group_by(Building.estate_id)
    ):
        tallies[estate].voted = voted
    await _count_week(session, tallies, wanted, period, start, end)
    return tallies


async def _count_week(
    session: AsyncSession,
    tallies: dict[int, Tally],
    wanted: ColumnElement[bool],
    period: Period,
    start: datetime,
    end: datetime,
) -> None:
    """Visits planned and done in the period's weeks, households visited, cleaning days held."""
    visits = (
        select(Building.estate_id)
        .join(Household, Household.building_id == Building.id)
        .join(Visit, Visit.household_id == Household.id)
        .where(wanted, Visit.week >= period.first, Visit.week <= period.last)
        .group_by(Building.estate_id)
    )
    done = Visit.state == VisitState.VISITED.value
    for estate, planned, visited, households in await session.execute(
        visits.add_columns(
            func.count(),
            func.count().filter(done),
            func.count(func.distinct(Visit.household_id)).filter(done),
        )
    ):
        tally = tallies[estate]
        tally.visits_planned, tally.visits_done, tally.visited_households = (
            planned,
            visited,
            households,
        )
    for estate, held in await session.execute(
        select(Building.estate_id, func.count())
        .join(CleaningDay, CleaningDay.building_id == Building.id)
        .where(wanted, CleaningDay.day >= period.first, CleaningDay.day <= period.last)
        .where(CleaningDay.state == Held.HELD.value)
        .group_by(Building.estate_id)
    ):
        tallies[estate].cleaning_held = held


def _heads_in_office(last: date, end: datetime) -> ColumnElement[bool]:
    """Neighbour heads whose term covers the period's last day and who held it at its end."""
    return and_(
        RoleAssignment.role == Role.NEIGHBOUR_HEAD.value,
        RoleAssignment.scope_kind == ScopeKind.GROUP.value,
        RoleAssignment.granted_at < end,
        or_(RoleAssignment.revoked_at.is_(None), RoleAssignment.revoked_at >= end),
        or_(RoleAssignment.term_start.is_(None), RoleAssignment.term_start <= last),
        or_(RoleAssignment.term_end.is_(None), RoleAssignment.term_end >= last),
    )


async def _requests(
    session: AsyncSession, estates: list[int], start: datetime, end: datetime
) -> Iterable[tuple[object, ...]]:
    def inside(column: InstrumentedAttribute[datetime | None]) -> ColumnElement[bool]:
        return and_(column >= start, column < end)

    return await session.execute(
        select(
            Request.estate_id,
            Request.kind,
            Request.state,
            Request.level,
            Request.rating,
            Request.created_at,
            Request.signed_at,
            Request.signed_in_time,
            Request.resolved_at,
            Request.resolved_in_time,
            Request.closed_at,
        ).where(
            Request.estate_id.in_(estates),
            or_(
                inside(Request.created_at),
                inside(Request.signed_at),
                inside(Request.resolved_at),
                inside(Request.closed_at),
            ),
        )
    )


def _count_requests(
    tallies: dict[int, Tally], rows: Iterable[tuple[object, ...]], start: datetime, end: datetime
) -> None:
    def inside(moment: object) -> bool:
        return isinstance(moment, datetime) and start <= moment < end

    for row in rows:
        estate, kind, state, level, rating, created, signed, signed_ok, resolved = row[:9]
        resolved_ok, closed = row[9:]
        tally = tallies[int(estate)]  # type: ignore[call-overload]
        assert isinstance(created, datetime)
        if kind == RequestKind.OPINION.value and inside(created):
            tally.opinions += 1
        if inside(signed):
            assert isinstance(signed, datetime)
            tally.signed += 1
            tally.signed_in_time += bool(signed_ok)
            tally.sign_hours.append((signed - created).total_seconds() / 3600)
        if inside(resolved):
            assert isinstance(resolved, datetime)
            tally.resolved += 1
            tally.resolved_in_time += bool(resolved_ok)
            tally.resolve_hours.append((resolved - created).total_seconds() / 3600)
            if state in SETTLED:
                tally.settled_at[str(level)] += 1
                tally.disputes += kind == RequestKind.DISPUTE.value
                tally.services += kind == RequestKind.SERVICE.value
        if inside(closed) and rating is not None:
            tally.rated += 1
            tally.content += rating in CONTENT


async def _tree(session: AsyncSession) -> dict[int, dict[ScopeKind, Unit]]:
    """Each estate with the units it lies in, read in one statement."""
    rows = await session.execute(
        select(Estate.id, Estate.name, Community.id, Community.name, Street.id, Street.name)
        .join(Community, Community.id == Estate.community_id)
        .join(Street, Street.id == Community.street_id)
    )
    return {
        estate: {
            ScopeKind.ESTATE: Unit(ScopeKind.ESTATE, estate, estate_name),
            ScopeKind.COMMUNITY: Unit(ScopeKind.COMMUNITY, community, community_name),
            ScopeKind.STREET: Unit(ScopeKind.STREET, street, street_name),
        }
        for estate, estate_name, community, community_name, street, street_name in rows
    }


def _within(units: dict[ScopeKind, Unit], unit: Unit) -> bool:
    return units.get(ScopeKind(unit.kind)) == unit


def _below(unit: Unit | None) -> ScopeKind:
    if unit is None:
        return ScopeKind.STREET
    if unit.kind == ScopeKind.STREET:
        return ScopeKind.COMMUNITY
    return ScopeKind.ESTATE


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
