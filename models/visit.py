"""Five-ones visits (五一行动): the weekly list of each head and the rotation over a group."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.problem import Problem
from models.registry import Household, HouseholdCare
from models.request import CLOSED, Request

# How far back an unvisited list entry still carries over.
CARRY = timedelta(weeks=8)
LONGEST_NOTE = 200


class VisitState(StrEnum):
    PLANNED = "planned"
    VISITED = "visited"
    NOT_HOME = "not_home"
    PUT_OFF = "put_off"


class FiveOnes(StrEnum):
    WALK = "walk"  # 走一走
    LOOK = "look"  # 看一看
    CHAT = "chat"  # 聊一聊
    PERSUADE = "persuade"  # 劝一劝
    HELP = "help"  # 帮一帮


class Visit(Base):
    """One household on one head's list for one week (the week's Monday)."""

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_household_week", "household_id", "week", unique=True),
        Index("ix_visit_head_week", "head_user_id", "week"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    head_user_id: Mapped[int] = mapped_column(BigInteger)
    week: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=VisitState.PLANNED.value)
    # Carried over from an earlier week's list that was not visited.
    carried: Mapped[bool] = mapped_column(default=False)
    ones: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def rotation_weeks(group_size: int, per_week: int) -> int:
    """The rotation bound: every household is visited at least once in this many weeks."""
    return max(1, math.ceil(group_size / per_week))


@dataclass(frozen=True)
class Candidate:
    household_id: int
    care: bool
    open_requests: int
    last_visit: datetime | None
    carried: bool
    # Since when the rotation counts for a household never visited.
    listed_at: datetime | None = None


def choose(candidates: Sequence[Candidate], per_week: int, week: date) -> list[Candidate]:
    """Pick a week's list: care first, then carried over, open requests, longest unvisited.

    Above all of them come the households the rotation bound makes due: not visited in the
    last ceil(size / per_week) weeks (so many care households cannot crowd one out for ever).
    The list shows care households first all the same.
    """
    bound = rotation_weeks(len(candidates), per_week)
    due_before = week - timedelta(weeks=bound - 1)

    def due(c: Candidate) -> bool:
        since = c.last_visit or c.listed_at
        return since is not None and since.date() < due_before

    chosen = sorted(candidates, key=lambda c: (not due(c), *_priority(c)))[:per_week]
    return sorted(chosen, key=_priority)


def _priority(c: Candidate) -> tuple[bool, bool, bool, datetime, int]:
    last = c.last_visit.replace(tzinfo=None) if c.last_visit else datetime.min
    return (not c.care, not c.carried, c.open_requests == 0, last, c.household_id)


async def candidates_of(
    session: AsyncSession, group_ids: Sequence[int], before: date
) -> dict[int, list[Candidate]]:
    """Each group's households with what the list is chosen by, in four statements."""
    live = (Household.neighbour_group_id.in_(group_ids), Household.removed_at.is_(None))
    homes = list(
        await session.execute(
            select(Household.id, Household.neighbour_group_id, Household.created_at).where(*live)
        )
    )
    # The households as a subquery, not a list of their ids: a chunk of estates is thousands
    # of households, and rendering each id into every statement cost more than the reads.
    ids = select(Household.id).where(*live).scalar_subquery()
    care = set(
        await session.scalars(
            select(HouseholdCare.household_id).where(HouseholdCare.household_id.in_(ids))
        )
    )
    open_counts: dict[int, int] = {
        h: n
        for h, n in (
            await session.execute(
                select(Request.household_id, func.count())
                .where(
                    Request.household_id.in_(ids),
                    Request.state.not_in([s.value for s in CLOSED]),
                )
                .group_by(Request.household_id)
            )
        )
    }
    last: dict[int, datetime | None] = {
        h: d
        for h, d in (
            await session.execute(
                select(Visit.household_id, func.max(Visit.done_at))
                .where(Visit.household_id.in_(ids), Visit.state == VisitState.VISITED.value)
                .group_by(Visit.household_id)
            )
        )
    }
    # The latest list a household was on before this week, if it stayed unvisited.
    latest: dict[int, str] = {}
    for household, state in await session.execute(
        select(Visit.household_id, Visit.state)
        .where(Visit.household_id.in_(ids), Visit.week < before, Visit.week >= before - CARRY)
        .order_by(Visit.week)
    ):
        latest[household] = state
    carried = {h for h, state in latest.items() if state != VisitState.VISITED.value}
    found: dict[int, list[Candidate]] = {g: [] for g in group_ids}
    for household, group, created in homes:
        found[group].append(
            Candidate(
                household,
                household in care,
                open_counts.get(household, 0),
                last.get(household),
                household in carried,
                created,
            )
        )
    return found


async def record_visit(
    session: AsyncSession,
    visit_id: int,
    head_user_id: int,
    state: VisitState,
    now: datetime,
    *,
    ones: Sequence[FiveOnes] = (),
    note: str | None = None,
) -> Visit:
    """Record how a planned visit went; only its own head, only once."""
    visit = await session.get(Visit, visit_id)
    if visit is None or visit.head_user_id != head_user_id:
        raise Problem("visit.not_yours")
    if visit.state not in (VisitState.PLANNED.value, VisitState.PUT_OFF.value):
        raise Problem("visit.stale")
    if note is not None and len(note) > LONGEST_NOTE:
        raise Problem("visit.long_note", limit=LONGEST_NOTE)
    # A guarded UPDATE: two presses at once record one outcome, the other is refused.
    done = await session.execute(
        update(Visit)
        .where(Visit.id == visit_id, Visit.state == visit.state)
        .values(
            state=state.value,
            ones=",".join(o.value for o in ones),
            note=note,
            done_at=now if state is VisitState.VISITED else None,
        )
        .execution_options(synchronize_session="fetch")
    )
    if not getattr(done, "rowcount", 0):
        raise Problem("visit.stale")
    audit(
        session,
        f"user:{head_user_id}",
        "visit.recorded",
        "visit",
        visit_id,
        after={"state": state.value, "ones": [o.value for o in ones]},
    )
    return visit
