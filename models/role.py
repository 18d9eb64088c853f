"""Role assignments: who holds which role, over which unit, for which term."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Select, String, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.person import Person
from models.problem import Problem
from models.scope import Scope, ScopeKind


class Role(StrEnum):
    RESIDENT = "resident"
    NEIGHBOUR_HEAD = "neighbour_head"
    SECRETARY = "secretary"
    FIRST_SECRETARY = "first_secretary"
    ESTATE_ADMIN = "estate_admin"
    TELLER = "teller"
    COMMUNITY_STAFF = "community_staff"
    STREET_STAFF = "street_staff"
    FORCE_MEMBER = "force_member"


class Force(StrEnum):
    """The six forces of the "1+6" community, less the branch that coordinates them."""

    WORK_TEAM = "work_team"
    PROPERTY = "property"
    OWNERS_COMMITTEE = "owners_committee"
    SOCIAL_ORG = "social_org"
    VOLUNTEERS = "volunteers"


# The unit each role is scoped to. A resident's role comes from binding to a household
# with a contact card, so it is never granted by hand.
ROLE_SCOPE: dict[Role, ScopeKind] = {
    Role.NEIGHBOUR_HEAD: ScopeKind.GROUP,
    Role.SECRETARY: ScopeKind.ESTATE,
    Role.FIRST_SECRETARY: ScopeKind.ESTATE,
    Role.ESTATE_ADMIN: ScopeKind.ESTATE,
    Role.TELLER: ScopeKind.ESTATE,
    Role.FORCE_MEMBER: ScopeKind.ESTATE,
    Role.COMMUNITY_STAFF: ScopeKind.COMMUNITY,
    Role.STREET_STAFF: ScopeKind.STREET,
}

# Roles one person holds alone for their unit: a group has one head, a branch one secretary.
SOLE_HOLDER = {Role.NEIGHBOUR_HEAD, Role.SECRETARY}

HEAD_TERM_YEARS = 3


class RoleAssignment(Base):
    __tablename__ = "role_assignment"
    __table_args__ = (
        # One live assignment per person, role, force and unit; revoked ones stay as history.
        Index(
            "uq_role_assignment_live",
            "user_id",
            "role",
            "force",
            "scope_kind",
            "scope_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_role_assignment_scope", "scope_kind", "scope_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("person.user_id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    # Only force members have a force; the empty string keeps the unique index honest.
    force: Mapped[str] = mapped_column(String(32), default="")
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[int]
    term_start: Mapped[date | None] = mapped_column(Date)
    term_end: Mapped[date | None] = mapped_column(Date)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))

    person: Mapped[Person] = relationship()

    def snapshot(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "force": self.force or None,
            "scope": f"{self.scope_kind}:{self.scope_id}",
            "term_start": self.term_start.isoformat() if self.term_start else None,
            "term_end": self.term_end.isoformat() if self.term_end else None,
        }


@dataclass(frozen=True)
class Grant:
    user_id: int
    role: Role
    scope: Scope
    force: Force | None = None
    term_start: date | None = None
    term_end: date | None = None
    display_name: str | None = None


async def grant_role(
    session: AsyncSession, grant: Grant, actor: str, today: date
) -> RoleAssignment:
    """Give a person a role over a unit, checking the role fits the unit."""
    if grant.role is Role.RESIDENT:
        raise Problem("roles.resident_by_card")
    expected = ROLE_SCOPE[grant.role]
    if grant.scope.kind is not expected:
        raise Problem("roles.wrong_scope", role=grant.role.value, kind=expected.value)
    if (grant.role is Role.FORCE_MEMBER) != (grant.force is not None):
        raise Problem("roles.force_needed" if grant.force is None else "roles.force_only_members")
    term_start, term_end = grant.term_start, grant.term_end
    if grant.role is Role.NEIGHBOUR_HEAD:
        term_start = term_start or today
        term_end = term_end or _add_years(term_start, HEAD_TERM_YEARS)
    if term_start and term_end and term_end <= term_start:
        raise Problem("roles.bad_term")

    person = await session.get(Person, grant.user_id)
    if person is None:
        person = Person(user_id=grant.user_id, display_name=grant.display_name)
        session.add(person)
    elif grant.display_name:
        person.display_name = grant.display_name

    live = await live_assignments(session, scope=grant.scope, role=grant.role)
    for other in live:
        if other.user_id == grant.user_id and other.force == (grant.force or ""):
            raise Problem("roles.already", user=grant.user_id, role=grant.role.value)
    # A head whose term has run out no longer blocks the next one.
    current = [a for a in live if a.term_end is None or a.term_end > (term_start or today)]
    if grant.role in SOLE_HOLDER and current:
        raise Problem(
            "roles.sole_holder",
            role=grant.role.value,
            scope=str(grant.scope),
            user=current[0].user_id,
        )

    assignment = RoleAssignment(
        user_id=grant.user_id,
        role=grant.role.value,
        force=grant.force.value if grant.force else "",
        scope_kind=grant.scope.kind.value,
        scope_id=grant.scope.id,
        term_start=term_start,
        term_end=term_end,
        granted_by=actor,
    )
    session.add(assignment)
    await session.flush()
    audit(
        session, actor, "role.grant", "role_assignment", assignment.id, after=assignment.snapshot()
    )
    return assignment


async def revoke_role(
    session: AsyncSession, user_id: int, role: Role, scope: Scope, actor: str
) -> list[RoleAssignment]:
    """End a person's live assignments of a role over a unit."""
    found = [
        a for a in await live_assignments(session, scope=scope, role=role) if a.user_id == user_id
    ]
    if not found:
        raise Problem("roles.not_held", user=user_id, role=role.value, scope=str(scope))
    for assignment in found:
        before = assignment.snapshot()
        assignment.revoked_at = utcnow()
        assignment.revoked_by = actor
        audit(
            session,
            actor,
            "role.revoke",
            "role_assignment",
            assignment.id,
            before=before,
            after={**before, "revoked": True},
        )
    return found


async def live_assignments(
    session: AsyncSession,
    *,
    scope: Scope | None = None,
    role: Role | None = None,
    user_id: int | None = None,
    on: date | None = None,
) -> list[RoleAssignment]:
    """List assignments not revoked, optionally only those whose term covers a day."""
    if scope is None and role is None and user_id is not None:
        rows = list(await session.scalars(_HELD_BY, {"user": user_id}))
    else:
        rows = list((await session.scalars(_assignments(scope, role, user_id))).all())
    if on is None:
        return rows
    return [a for a in rows if _serving(a, on)]


async def holders_of_many(
    session: AsyncSession,
    kind: ScopeKind,
    scope_ids: Collection[int],
    roles: tuple[Role, ...],
    on: date,
) -> dict[int, list[int]]:
    """Everyone holding one of the roles over each of several units on a day, in one statement:
    each person once, by role in the order given, then in order of appointment."""
    found: dict[int, list[int]] = {unit: [] for unit in scope_ids}
    if not found:
        return found
    rows = await session.scalars(
        select(RoleAssignment)
        .where(
            RoleAssignment.revoked_at.is_(None),
            RoleAssignment.scope_kind == kind.value,
            RoleAssignment.scope_id.in_(sorted(found)),
            RoleAssignment.role.in_([r.value for r in roles]),
        )
        .order_by(RoleAssignment.id)
    )
    rank = [r.value for r in roles]
    # A stable sort: within a role, the order of appointment stays.
    for a in sorted((a for a in rows if _serving(a, on)), key=lambda a: rank.index(a.role)):
        if a.user_id not in found[a.scope_id]:
            found[a.scope_id].append(a.user_id)
    return found


def _serving(assignment: RoleAssignment, on: date) -> bool:
    """Whether an assignment's term covers a day."""
    started = assignment.term_start is None or assignment.term_start <= on
    return started and (assignment.term_end is None or on < assignment.term_end)


async def held_by(
    session: AsyncSession, user_ids: Collection[int], on: date
) -> dict[int, list[RoleAssignment]]:
    """The live assignments of many people at once (every one of them a key)."""
    held: dict[int, list[RoleAssignment]] = {user: [] for user in user_ids}
    if user_ids:
        for a in await session.scalars(_HELD_BY_MANY, {"users": sorted(user_ids)}):
            if _serving(a, on):
                held[a.user_id].append(a)
    return held


def _assignments(scope: Scope | None, role: Role | None, user_id: int | None) -> Select[Any]:
    query = select(RoleAssignment).where(RoleAssignment.revoked_at.is_(None))
    if scope is not None:
        query = query.where(
            RoleAssignment.scope_kind == scope.kind.value, RoleAssignment.scope_id == scope.id
        )
    if role is not None:
        query = query.where(RoleAssignment.role == role.value)
    if user_id is not None:
        query = query.where(RoleAssignment.user_id == user_id)
    return query.order_by(RoleAssignment.id)


# Built once: asked on every /help and /me, one person or a batch's.
_HELD_BY_MANY = (
    select(RoleAssignment)
    .where(
        RoleAssignment.revoked_at.is_(None),
        RoleAssignment.user_id.in_(bindparam("users", expanding=True)),
    )
    .order_by(RoleAssignment.id)
)
_HELD_BY = (
    select(RoleAssignment)
    .where(
        RoleAssignment.revoked_at.is_(None),
        RoleAssignment.user_id == bindparam("user"),
    )
    .order_by(RoleAssignment.id)
)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
