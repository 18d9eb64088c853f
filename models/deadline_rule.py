"""How many working days each step may take, per estate, by kind and level (defaults below)."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.problem import Problem

ANY = "*"


class Step(StrEnum):
    SIGN = "sign"  # 签收
    RESOLVE = "resolve"  # 限时办理
    DECIDE = "decide"  # a level above decides on an escalation
    CONFIRM = "confirm"  # the resident answers the return visit


# The practice's defaults: sign within one working day; services resolved in three, opinions
# answered in five; disputes go to the next mediation day instead (see models.mediation).
DEFAULTS: dict[tuple[str, str], int] = {
    (Step.SIGN, ANY): 1,
    (Step.RESOLVE, "service"): 3,
    (Step.RESOLVE, "opinion"): 5,
    (Step.RESOLVE, "dispute"): 5,
    (Step.DECIDE, ANY): 1,
    (Step.CONFIRM, ANY): 3,
}
LONGEST = 60


class DeadlineRule(Base):
    __tablename__ = "deadline_rule"

    estate_id: Mapped[int] = mapped_column(
        ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True, default=ANY)
    level: Mapped[str] = mapped_column(String(16), primary_key=True, default=ANY)
    days: Mapped[int] = mapped_column(Integer)


async def workdays_for(
    session: AsyncSession, estate_id: int, step: Step, kind: str, level: str
) -> int:
    """The estate's own rule, the most specific first, else the default."""
    rules = await rules_of(session, [estate_id], step)
    return pick_workdays(rules[estate_id], step, kind, level)


async def rules_of(
    session: AsyncSession, estate_ids: Collection[int], step: Step
) -> dict[int, dict[tuple[str, str], int]]:
    """Several estates' own rules for a step, in one statement: (kind, level) to working days."""
    found: dict[int, dict[tuple[str, str], int]] = {e: {} for e in estate_ids}
    for r in await session.scalars(
        select(DeadlineRule).where(
            DeadlineRule.estate_id.in_(sorted(found)), DeadlineRule.step == step.value
        )
    ):
        found[r.estate_id][(r.kind, r.level)] = r.days
    return found


def pick_workdays(rules: dict[tuple[str, str], int], step: Step, kind: str, level: str) -> int:
    """Of an estate's rules for a step, the most specific that applies, else the default."""
    for key in ((kind, level), (kind, ANY), (ANY, level), (ANY, ANY)):
        if key in rules:
            return rules[key]
    return DEFAULTS.get((step, kind), DEFAULTS.get((step, ANY), 1))


async def set_rule(
    session: AsyncSession, estate_id: int, step: Step, kind: str, level: str, days: int
) -> None:
    if not 0 < days <= LONGEST:
        raise Problem("deadlines.bad_days", days=days, longest=LONGEST)
    found = await session.get(DeadlineRule, (estate_id, step.value, kind, level))
    if found is None:
        session.add(
            DeadlineRule(estate_id=estate_id, step=step.value, kind=kind, level=level, days=days)
        )
    else:
        found.days = days
