"""Recall (罢免): a petition by a fifth of the group's households opens a recall vote."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ForeignKey, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base
from models.election import Election, Kind, Phase, current_election, freeze_roll, household_in_group
from models.problem import Problem
from models.registry import Household
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind
from models.workdays import WorkCalendar

# One fifth of the group's households.
SHARE = 5
VOTING_DAYS = 2


class RecallSignature(Base):
    __tablename__ = "election_recall_signature"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("neighbour_group.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="RESTRICT"), primary_key=True
    )
    head_user_id: Mapped[int] = mapped_column(BigInteger)


async def sign(
    session: AsyncSession, user_id: int, group_id: int, now: datetime, zone: ZoneInfo
) -> tuple[int, int, Election | None]:
    """A household signs the petition to recall its head; return (signed, needed, the recall
    vote once a fifth have signed)."""
    group = Scope(ScopeKind.GROUP, group_id, "")
    heads = await live_assignments(session, scope=group, role=Role.NEIGHBOUR_HEAD, on=now.date())
    if not heads:
        raise Problem("election.recall_no_head")
    head = heads[0].user_id
    household = await household_in_group(session, user_id, group_id)
    if household is None:
        raise Problem("election.not_on_roll")
    if await current_election(session, group_id) is not None:
        raise Problem("election.under_way")
    if await session.get(RecallSignature, (group_id, household)) is None:
        session.add(RecallSignature(group_id=group_id, household_id=household, head_user_id=head))
        audit(session, f"user:{user_id}", "election.recall_sign", "neighbour_group", group_id)
        await session.flush()
    signed = int(
        await session.scalar(
            select(func.count())
            .select_from(RecallSignature)
            .where(RecallSignature.group_id == group_id, RecallSignature.head_user_id == head)
        )
        or 0
    )
    households = int(
        await session.scalar(
            select(func.count())
            .select_from(Household)
            .where(Household.neighbour_group_id == group_id, Household.removed_at.is_(None))
        )
        or 0
    )
    needed = -(-households // SHARE)
    if signed < needed:
        return signed, needed, None
    calendar = await WorkCalendar.load(session)
    recall = Election(
        group_id=group_id,
        kind=Kind.RECALL.value,
        phase=Phase.VOTING.value,
        voting_days=VOTING_DAYS,
        voting_ends=calendar.due(now, VOTING_DAYS, zone),
        recalled_user_id=head,
        opened_by=f"petition:{group_id}",
    )
    session.add(recall)
    await session.flush()
    await freeze_roll(session, recall)
    await session.execute(delete(RecallSignature).where(RecallSignature.group_id == group_id))
    audit(
        session, "system:election", "election.recall", "election", recall.id, after={"head": head}
    )
    return signed, needed, recall
