"""Neighbour-head elections (邻长选举): opening, nomination, the roll, the rule, the result.

One election per neighbour group and one seat. Its periods are counted in working days. The
rule is 双过半 (村民委员会组织法 Art. 15): valid when more than half of the roll voted; a
candidate wins with more than half of the ballots cast; otherwise a run-off between the top two,
where the most votes win with at least a third of the ballots cast. Who voted is kept in
`models/ballot.py`, apart from what they chose.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.person import Resident
from models.problem import Problem
from models.registry import Household, NeighbourGroup
from models.scope import Scope, ScopeKind
from models.workdays import WorkCalendar

ABSTAIN = "abstain"
# The two answers of a recall vote.
RECALL_YES, RECALL_NO = "yes", "no"


class Kind(StrEnum):
    ELECTION = "election"
    RUNOFF = "runoff"
    RECALL = "recall"


class Phase(StrEnum):
    NOMINATION = "nomination"
    VOTING = "voting"
    # Counted; waits for the secretary to confirm the result.
    CLOSED = "closed"
    PUBLICATION = "publication"
    # Final phases.
    TERM_STARTED = "term_started"
    NOT_VALID = "not_valid"
    NOT_ELECTED = "not_elected"
    TIE = "tie"
    RUNOFF = "runoff"
    RECALLED = "recalled"
    KEPT = "kept"


# Every household voted; waiting for the elections job to close it.
COMPLETE = "phase = 'voting' AND completed_at IS NOT NULL"

OPEN_PHASES = (Phase.NOMINATION, Phase.VOTING, Phase.CLOSED, Phase.PUBLICATION)


class Outcome(StrEnum):
    NOT_VALID = "not_valid"
    ELECTED = "elected"
    RUNOFF = "runoff"
    TIE = "tie"
    NOT_ELECTED = "not_elected"
    RECALLED = "recalled"
    KEPT = "kept"


class Circle(StrEnum):
    """The four circles heads are drawn from (四个方面)."""

    PARTY_MEMBER = "party_member"
    RETIRED_CADRE = "retired_cadre"
    RESIDENT_REP = "resident_rep"
    VOLUNTEER = "volunteer"


class Source(StrEnum):
    SELF = "self"
    BRANCH = "branch"
    NEIGHBOUR = "neighbour"


@dataclass(frozen=True)
class Periods:
    """Working days of each period, and how many other households second a neighbour's
    recommendation."""

    nomination: int = 3
    voting: int = 2
    publication: int = 5
    seconds: int = 2
    change_allowed: bool = False


class Election(Base):
    __tablename__ = "election"
    __table_args__ = (
        Index("ix_election_group_phase", "group_id", "phase"),
        # The elections job looks every few seconds for voting that has ended.
        Index("ix_election_phase_ends", "phase", "voting_ends"),
        Index(
            "ix_election_complete",
            "id",
            sqlite_where=text(COMPLETE),
            postgresql_where=text(COMPLETE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("neighbour_group.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16), default=Kind.ELECTION.value)
    phase: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(32), default="double_majority")
    seats: Mapped[int] = mapped_column(default=1)
    change_allowed: Mapped[bool] = mapped_column(default=False)
    seconds_needed: Mapped[int] = mapped_column(default=2)
    voting_days: Mapped[int] = mapped_column(default=2)
    publication_days: Mapped[int] = mapped_column(default=5)
    nomination_ends: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voting_ends: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the last household on the roll voted, before the deadline. The batch whose vote
    # completed the election marks it; the elections job closes it moments later, in its own
    # transaction, not in the batch: on election day the closes of a hundred groups a second
    # would hold up the answers to the presses behind them.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publication_ends: Mapped[datetime | None] = mapped_column(UTCDateTime())
    roll_size: Mapped[int] = mapped_column(default=0)
    # The run-off's first round; the recall's head.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("election.id", ondelete="SET NULL"))
    recalled_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # The ballot as posted in the building group, kept so that a vote edits its turnout line
    # without reading the candidates again: {"chat", "text", "choices", "buttons": [[label,
    # token]]}. Empty until posted.
    ballot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    opened_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Candidate(Base):
    __tablename__ = "election_candidate"
    __table_args__ = (Index("uq_election_candidate", "election_id", "user_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("election.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(128))
    circle: Mapped[str] = mapped_column(String(16))
    statement: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))
    nominated_by: Mapped[int] = mapped_column(BigInteger)
    # A nominee's name appears nowhere before they accept.
    accepted: Mapped[bool] = mapped_column(default=False)


class Second(Base):
    """A household seconding a neighbour's recommendation."""

    __tablename__ = "election_second"

    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("election_candidate.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="RESTRICT"), primary_key=True
    )


class RollEntry(Base):
    """A household on an election's roll (选民名册), frozen when nomination closes."""

    __tablename__ = "election_roll"

    election_id: Mapped[int] = mapped_column(
        ForeignKey("election.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="RESTRICT"), primary_key=True
    )


# --- the rule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    roll: int
    voted: int
    counts: dict[str, int]
    winner: str | None = None
    # The two choices of a run-off.
    runoff: tuple[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "roll": self.roll,
            "voted": self.voted,
            "counts": self.counts,
            "winner": self.winner,
            "runoff": list(self.runoff) if self.runoff else None,
        }


def apply_rule(kind: Kind, roll: int, counts: Mapping[str, int], choices: list[str]) -> Result:
    """Apply 双过半 to the ballots cast: `counts` by choice (abstentions included)."""
    full = {choice: counts.get(choice, 0) for choice in [*choices, ABSTAIN]}
    voted = sum(full.values())
    if voted * 2 <= roll:
        return Result(Outcome.NOT_VALID, roll, voted, full)
    if kind is Kind.RECALL:
        recalled = full.get(RECALL_YES, 0) * 2 > voted
        return Result(Outcome.RECALLED if recalled else Outcome.KEPT, roll, voted, full)
    ranked = sorted(choices, key=lambda c: -full[c])
    if not ranked or full[ranked[0]] == 0:
        return Result(Outcome.NOT_ELECTED, roll, voted, full)
    top = full[ranked[0]]
    if kind is Kind.ELECTION and top * 2 > voted:
        return Result(Outcome.ELECTED, roll, voted, full, winner=ranked[0])
    if kind is Kind.RUNOFF:
        if len(ranked) > 1 and full[ranked[1]] == top:
            return Result(Outcome.TIE, roll, voted, full)
        if top * 3 < voted:
            return Result(Outcome.NOT_ELECTED, roll, voted, full)
        return Result(Outcome.ELECTED, roll, voted, full, winner=ranked[0])
    # First round without a majority: the top two go to a run-off, if two are clear.
    if len(ranked) < 2 or full[ranked[1]] == 0:
        return Result(Outcome.NOT_ELECTED, roll, voted, full)
    if len(ranked) > 2 and full[ranked[2]] == full[ranked[1]]:
        return Result(Outcome.TIE, roll, voted, full)
    return Result(Outcome.RUNOFF, roll, voted, full, runoff=(ranked[0], ranked[1]))


# --- opening and nomination -------------------------------------------------------------


async def groups_in(session: AsyncSession, scope: Scope) -> list[NeighbourGroup]:
    """The neighbour groups of a group, building or estate scope."""
    from models.registry import Building

    query = select(NeighbourGroup).order_by(NeighbourGroup.id)
    if scope.kind is ScopeKind.GROUP:
        query = query.where(NeighbourGroup.id == scope.id)
    elif scope.kind is ScopeKind.BUILDING:
        query = query.where(NeighbourGroup.building_id == scope.id)
    elif scope.kind is ScopeKind.ESTATE:
        query = query.join(Building).where(Building.estate_id == scope.id)
    else:
        raise Problem("election.bad_scope", scope=str(scope))
    return list(await session.scalars(query))


async def open_elections(
    session: AsyncSession,
    scope: Scope,
    actor: str,
    now: datetime,
    zone: ZoneInfo,
    periods: Periods = Periods(),
) -> list[Election]:
    """Open one election per neighbour group of a scope; a group with one under way is left."""
    if periods.change_allowed:
        # A changed ballot would need the household's old choice found again: secrecy forbids.
        raise Problem("election.change_not_supported")
    calendar = await WorkCalendar.load(session)
    nomination_ends = calendar.due(now, periods.nomination, zone)
    opened = []
    for group in await groups_in(session, scope):
        if await current_election(session, group.id) is not None:
            continue
        election = Election(
            group_id=group.id,
            kind=Kind.ELECTION.value,
            phase=Phase.NOMINATION.value,
            change_allowed=periods.change_allowed,
            seconds_needed=periods.seconds,
            voting_days=periods.voting,
            publication_days=periods.publication,
            nomination_ends=nomination_ends,
            opened_by=actor,
        )
        session.add(election)
        opened.append(election)
    if not opened:
        raise Problem("election.none_opened", scope=scope.spoken)
    await session.flush()
    for election in opened:
        audit(
            session,
            actor,
            "election.open",
            "election",
            election.id,
            after={"group": election.group_id, "nomination_ends": nomination_ends.isoformat()},
        )
    return opened


async def current_election(session: AsyncSession, group_id: int) -> Election | None:
    """The group's election under way (nomination to publication), if any."""
    return await session.scalar(
        select(Election)
        .where(Election.group_id == group_id, Election.phase.in_([p.value for p in OPEN_PHASES]))
        .order_by(Election.id.desc())
        .limit(1)
    )


async def household_in_group(session: AsyncSession, user_id: int, group_id: int) -> int | None:
    """The household a resident is bound to in a neighbour group, if any."""
    return await session.scalar(
        select(Resident.household_id)
        .join(Household, Household.id == Resident.household_id)
        .where(
            Resident.user_id == user_id,
            Resident.unbound_at.is_(None),
            Household.neighbour_group_id == group_id,
            Household.removed_at.is_(None),
        )
        .limit(1)
    )


async def nominate(
    session: AsyncSession,
    election: Election,
    user_id: int,
    name: str,
    circle: Circle,
    statement: str,
    source: Source,
    nominated_by: int,
) -> Candidate:
    """Put a resident of the group forward; a self-nomination is accepted at once."""
    if election.phase != Phase.NOMINATION:
        raise Problem("election.not_nominating")
    household = await household_in_group(session, user_id, election.group_id)
    if household is None:
        raise Problem("election.candidate_not_resident")
    if await session.scalar(
        select(Candidate.id).where(
            Candidate.election_id == election.id, Candidate.user_id == user_id
        )
    ):
        raise Problem("election.already_nominated")
    if source is Source.NEIGHBOUR and await household_in_group(
        session, nominated_by, election.group_id
    ) in (None, household):
        raise Problem("election.recommender_not_neighbour")
    candidate = Candidate(
        election_id=election.id,
        user_id=user_id,
        household_id=household,
        name=name,
        circle=circle.value,
        statement=statement[:200],
        source=source.value,
        nominated_by=nominated_by,
        accepted=source is Source.SELF,
    )
    session.add(candidate)
    await session.flush()
    audit(
        session,
        f"user:{nominated_by}",
        "election.nominate",
        "election",
        election.id,
        after={"candidate": user_id, "source": source.value, "circle": circle.value},
    )
    return candidate


async def seconds_of(session: AsyncSession, candidate_id: int) -> int:
    """How many households have seconded a neighbour's recommendation."""
    found = await session.scalar(
        select(func.count()).select_from(Second).where(Second.candidate_id == candidate_id)
    )
    return int(found or 0)


async def second(session: AsyncSession, candidate: Candidate, user_id: int) -> int:
    """A household of the group seconds a neighbour's recommendation; return how many have."""
    election = await session.get_one(Election, candidate.election_id)
    if election.phase != Phase.NOMINATION:
        raise Problem("election.not_nominating")
    if candidate.source != Source.NEIGHBOUR or not candidate.accepted:
        # Seconding is for a neighbour's pick, and only once the nominee has agreed to stand.
        raise Problem("election.not_seconded_kind")
    household = await household_in_group(session, user_id, election.group_id)
    if household is None or household == candidate.household_id:
        raise Problem("election.second_not_neighbour")
    if await session.get(Second, (candidate.id, household)) is not None:
        raise Problem("election.already_seconded")
    session.add(Second(candidate_id=candidate.id, household_id=household))
    audit(
        session,
        f"user:{user_id}",
        "election.second",
        "election",
        election.id,
        after={"candidate": candidate.user_id, "household": household},
    )
    await session.flush()
    return await seconds_of(session, candidate.id)


async def accept(session: AsyncSession, candidate: Candidate, user_id: int) -> None:
    """The nominee agrees to stand; only then is their name shown."""
    if candidate.user_id != user_id:
        raise Problem("election.not_yours")
    election = await session.get_one(Election, candidate.election_id)
    if election.phase != Phase.NOMINATION:
        raise Problem("election.not_nominating")
    candidate.accepted = True
    audit(session, f"user:{user_id}", "election.accept", "election", candidate.election_id)


async def decline(session: AsyncSession, candidate: Candidate, user_id: int) -> None:
    """The nominee does not stand: the nomination is gone, as if never made."""
    if candidate.user_id != user_id:
        raise Problem("election.not_yours")
    if candidate.accepted:
        raise Problem("election.already_accepted")
    await session.delete(candidate)
    audit(
        session,
        f"user:{user_id}",
        "election.decline",
        "election",
        candidate.election_id,
        after={"source": candidate.source},
    )


async def standing(session: AsyncSession, election: Election) -> list[Candidate]:
    """The candidates on the ballot: accepted, and for a neighbour's pick seconded enough."""
    return (await standing_many(session, [election]))[election.id]


async def standing_many(
    session: AsyncSession, elections: Collection[Election]
) -> dict[int, list[Candidate]]:
    """Several elections' candidates on the ballot, read in one statement (closing many)."""
    by_id = {election.id: election for election in elections}
    chosen: dict[int, list[Candidate]] = {election_id: [] for election_id in by_id}
    if not by_id:
        return chosen
    found = await session.scalars(
        select(Candidate)
        .where(Candidate.election_id.in_(sorted(by_id)), Candidate.accepted.is_(True))
        .order_by(Candidate.id)
    )
    for candidate in list(found):
        election = by_id[candidate.election_id]
        if (
            candidate.source == Source.NEIGHBOUR
            and await seconds_of(session, candidate.id) < election.seconds_needed
        ):
            continue
        chosen[election.id].append(candidate)
    return chosen


async def freeze_roll(session: AsyncSession, election: Election) -> int:
    """Write the roll: the group's households on the roster now. Return its size."""
    households = list(
        await session.scalars(
            select(Household.id).where(
                Household.neighbour_group_id == election.group_id, Household.removed_at.is_(None)
            )
        )
    )
    if households:
        await session.execute(
            insert(RollEntry), [{"election_id": election.id, "household_id": h} for h in households]
        )
    election.roll_size = len(households)
    return len(households)


async def confirm_list(
    session: AsyncSession, election: Election, actor: str, now: datetime, zone: ZoneInfo
) -> list[Candidate]:
    """The secretary confirms the candidates: nomination closes, the roll is frozen, voting
    opens."""
    if election.phase != Phase.NOMINATION:
        raise Problem("election.not_nominating")
    candidates = await standing(session, election)
    if not candidates:
        raise Problem("election.no_candidates")
    await freeze_roll(session, election)
    calendar = await WorkCalendar.load(session)
    election.phase = Phase.VOTING.value
    election.voting_ends = calendar.due(now, election.voting_days, zone)
    audit(
        session,
        actor,
        "election.voting",
        "election",
        election.id,
        after={"candidates": [c.user_id for c in candidates], "roll": election.roll_size},
    )
    return candidates


def choices_of(election: Election, candidates: list[Candidate]) -> list[str]:
    """What a ballot may say, abstention aside."""
    if election.kind == Kind.RECALL:
        return [RECALL_YES, RECALL_NO]
    return [str(c.id) for c in candidates]


async def on_roll(session: AsyncSession, election_id: int, household_id: int) -> bool:
    return await session.get(RollEntry, (election_id, household_id)) is not None


async def voter_household(session: AsyncSession, election: Election, user_id: int) -> int | None:
    """The household on this election's roll a resident casts for, if any."""
    return await session.scalar(
        select(Resident.household_id)
        .join(
            RollEntry,
            (RollEntry.household_id == Resident.household_id)
            & (RollEntry.election_id == election.id),
        )
        .where(Resident.user_id == user_id, Resident.unbound_at.is_(None))
        .limit(1)
    )


async def move_household(
    session: AsyncSession, household_id: int, group_id: int, actor: str
) -> None:
    """Put a household in another neighbour group of its building, on an objection to the roll:
    only while neither group's roll is frozen (no election past nomination)."""
    household = await session.get_one(Household, household_id)
    target = await session.get_one(NeighbourGroup, group_id)
    if target.building_id != household.building_id or target.id == household.neighbour_group_id:
        raise Problem("election.roll_bad_group")
    for group in (household.neighbour_group_id, target.id):
        election = await current_election(session, group)
        if election is not None and election.phase != Phase.NOMINATION:
            raise Problem("election.roll_frozen")
    before = household.neighbour_group_id
    household.neighbour_group_id = target.id
    audit(
        session,
        actor,
        "election.roll_move",
        "household",
        household.id,
        before={"group": before},
        after={"group": target.id},
    )
