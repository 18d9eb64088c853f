"""Four-party deliberation (四方议事) on a request: invitations, attendance, decision."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.problem import Problem
from models.request import CLOSED, Request
from models.request_flow import estate_secretaries, head_for_request
from models.role import Force, Role, live_assignments
from models.scope import Scope, ScopeKind


class Party(StrEnum):
    """The four parties: the party branch, the owners' committee, the property company, and
    the residents through their neighbour head."""

    BRANCH = "branch"
    OWNERS_COMMITTEE = "owners_committee"
    PROPERTY = "property"
    RESIDENTS = "residents"


class Deliberation(Base):
    __tablename__ = "deliberation"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id", ondelete="CASCADE"))
    convened_by: Mapped[int] = mapped_column(BigInteger)
    meets_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decision: Mapped[str | None] = mapped_column(Text)
    # Who carries the decision out: a force, the branch, or the neighbour head.
    responsible: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invitation(Base):
    __tablename__ = "deliberation_invitation"

    deliberation_id: Mapped[int] = mapped_column(
        ForeignKey("deliberation.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    party: Mapped[str] = mapped_column(String(32))
    attending: Mapped[bool | None]
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_WHEN = re.compile(
    r"^\s*(?:(\d{4})[-/年])?(\d{1,2})[-/月](\d{1,2})日?\s*(\d{1,2})[:：点](\d{2})?\s*$"
)


def parse_meeting_time(text: str, today: date, zone: ZoneInfo) -> datetime:
    """Read `2026-12-01 19:30`, `12-01 19:30` or `12月1日 19:30` as a future local time."""
    found = _WHEN.match(text)
    if found is None:
        raise Problem("deliberation.bad_time", text=text[:40])
    year, month, day, hour, minute = found.groups()
    try:
        moment = datetime(
            int(year or today.year), int(month), int(day), int(hour), int(minute or 0), tzinfo=zone
        )
    except ValueError:
        raise Problem("deliberation.bad_time", text=text[:40]) from None
    if moment.date() < today:
        raise Problem("deliberation.past", text=text[:40])
    return moment


async def parties_of(
    session: AsyncSession, request: Request, today: date
) -> list[tuple[int, Party]]:
    """Who represents each party for this request's estate."""
    estate = Scope(ScopeKind.ESTATE, request.estate_id, "")
    people: list[tuple[int, Party]] = [
        (user, Party.BRANCH) for user in await estate_secretaries(session, request.estate_id, today)
    ]
    members = await live_assignments(session, scope=estate, role=Role.FORCE_MEMBER, on=today)
    for force, party in (
        (Force.OWNERS_COMMITTEE, Party.OWNERS_COMMITTEE),
        (Force.PROPERTY, Party.PROPERTY),
    ):
        people += [(a.user_id, party) for a in members if a.force == force.value]
    head = await head_for_request(session, request, today)
    if head is not None:
        people.append((head, Party.RESIDENTS))
    # One invitation each, for the first party a person represents.
    chosen: dict[int, Party] = {}
    for user, party in people:
        chosen.setdefault(user, party)
    return list(chosen.items())


async def convene(
    session: AsyncSession, request: Request, actor: int, meets_at: datetime, today: date
) -> tuple[Deliberation, list[Invitation]]:
    """A secretary calls the four parties to deliberate on a request."""
    if actor not in await estate_secretaries(session, request.estate_id, today):
        raise Problem("request.not_allowed")
    if request.state in [s.value for s in CLOSED]:
        raise Problem("request.already", reference=request.reference)
    meeting = Deliberation(request_id=request.id, convened_by=actor, meets_at=meets_at)
    session.add(meeting)
    await session.flush()
    invitations = [
        Invitation(deliberation_id=meeting.id, user_id=user, party=party.value)
        for user, party in await parties_of(session, request, today)
    ]
    session.add_all(invitations)
    audit(
        session,
        f"user:{actor}",
        "deliberation.convene",
        "request",
        request.reference,
        after={"meets_at": meets_at.isoformat(), "invited": [i.user_id for i in invitations]},
    )
    return meeting, invitations


async def answer_invitation(
    session: AsyncSession, meeting: Deliberation, user: int, attending: bool
) -> Invitation:
    invitation = await session.get(Invitation, (meeting.id, user))
    if invitation is None:
        raise Problem("request.not_allowed")
    invitation.attending, invitation.answered_at = attending, utcnow()
    return invitation


async def decide(
    session: AsyncSession,
    meeting: Deliberation,
    request: Request,
    actor: int,
    decision: str,
    responsible: str,
) -> None:
    """Record what the four parties decided and who carries it out."""
    if actor != meeting.convened_by:
        raise Problem("request.not_allowed")
    if meeting.decided_at is not None:
        raise Problem("request.already", reference=request.reference)
    meeting.decision, meeting.responsible, meeting.decided_at = decision, responsible, utcnow()
    audit(
        session,
        f"user:{actor}",
        "deliberation.decide",
        "request",
        request.reference,
        after={"decision": decision, "responsible": responsible},
    )


async def attendance(session: AsyncSession, meeting_id: int) -> list[Invitation]:
    rows = await session.scalars(select(Invitation).where(Invitation.deliberation_id == meeting_id))
    return list(rows)
