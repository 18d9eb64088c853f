"""Closing an election: count, reshuffle, apply the rule, run-off, confirmation, the term."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import audit
from models.ballot import reshuffle_many
from models.election import (
    Candidate,
    Election,
    Kind,
    Outcome,
    Phase,
    Result,
    RollEntry,
    apply_rule,
    choices_of,
    standing_many,
)
from models.paper_ballot import PaperEntry
from models.problem import Problem
from models.role import Grant, Role, RoleAssignment, grant_role, live_assignments, revoke_role
from models.scope import Scope, ScopeKind
from models.workdays import WorkCalendar

# The outcomes that end an election once the secretary has confirmed them.
FINAL = {
    Outcome.NOT_VALID: Phase.NOT_VALID,
    Outcome.NOT_ELECTED: Phase.NOT_ELECTED,
    Outcome.TIE: Phase.TIE,
    Outcome.KEPT: Phase.KEPT,
}


@dataclass(frozen=True)
class Closed:
    """An election just closed: the rule applied, the run-off it opened, the ballots as the
    estate will check them (shuffled) and the names of the candidates they name."""

    election: Election
    result: Result
    runoff: Election | None
    ballots: list[tuple[str, str]]
    names: dict[str, str]


async def close(
    session: AsyncSession, election: Election, actor: str, now: datetime, zone: ZoneInfo
) -> tuple[Result, Election | None]:
    """Count the ballots and apply the rule; a run-off opens at once with the top two."""
    closed = await close_many(session, [election], actor, now, zone)
    if not closed:
        raise Problem("election.not_voting")
    return closed[0].result, closed[0].runoff


async def close_many(
    session: AsyncSession,
    elections: Sequence[Election],
    actor: str,
    now: datetime,
    zone: ZoneInfo,
) -> list[Closed]:
    """Close several elections at once, each statement for all of them: count the ballots,
    reshuffle them, apply the rule, open the run-offs. Those another worker closed first are
    left out."""
    if not elections:
        return []
    # Claimed in one guarded statement: of two workers closing at once (the last two votes
    # of a group, or the deadline job), one counts; the other waits for it, then finds none.
    claimed = set(
        await session.scalars(
            update(Election)
            .where(
                Election.id.in_(sorted({e.id for e in elections})),
                Election.phase == Phase.VOTING.value,
            )
            .values(phase=Phase.CLOSED.value)
            .returning(Election.id)
            .execution_options(synchronize_session=False)
        )
    )
    mine = [election for election in elections if election.id in claimed]
    if not mine:
        return []
    ids = sorted(claimed)
    # A paper ballot entered by one teller only does not count.
    await session.execute(delete(PaperEntry).where(PaperEntry.election_id.in_(ids)))
    ballots = await reshuffle_many(session, ids)
    standing = await standing_many(session, mine)
    cast: dict[int, list[tuple[str, str]]] = {election_id: [] for election_id in ids}
    for receipt, election_id, choice in ballots:
        cast[election_id].append((receipt, choice))
    results = {}
    for election in mine:
        tally: dict[str, int] = {}
        for _, choice in cast[election.id]:
            tally[choice] = tally.get(choice, 0) + 1
        candidates = standing[election.id]
        result = apply_rule(
            Kind(election.kind), election.roll_size, tally, choices_of(election, candidates)
        )
        results[election.id] = result
        election.result = result.as_json()
        election.phase = Phase.CLOSED.value
        if result.outcome is Outcome.RUNOFF and result.runoff is not None:
            election.phase = Phase.RUNOFF.value
        audit(
            session,
            actor,
            "election.close",
            "election",
            election.id,
            after={"outcome": result.outcome.value, "voted": result.voted, "roll": result.roll},
        )
    runoffs = await open_runoffs(
        session,
        [(e, standing[e.id], results[e.id].runoff) for e in mine if e.phase == Phase.RUNOFF],
        now,
        zone,
    )
    return [
        Closed(
            election,
            results[election.id],
            runoffs.get(election.id),
            cast[election.id],
            {str(c.id): c.name for c in standing[election.id]},
        )
        for election in mine
    ]


async def open_runoffs(
    session: AsyncSession,
    firsts: Sequence[tuple[Election, list[Candidate], tuple[str, str] | None]],
    now: datetime,
    zone: ZoneInfo,
) -> dict[int, Election]:
    """Open a run-off between the top two of each first round, on the same roll, voting at
    once; return them by first round. Each statement for all of them."""
    if not firsts:
        return {}
    calendar = await WorkCalendar.load(session)
    runoffs = {}
    for first, _, _ in firsts:
        runoffs[first.id] = Election(
            group_id=first.group_id,
            kind=Kind.RUNOFF.value,
            phase=Phase.VOTING.value,
            voting_days=first.voting_days,
            publication_days=first.publication_days,
            voting_ends=calendar.due(now, first.voting_days, zone),
            roll_size=first.roll_size,
            parent_id=first.id,
            opened_by=first.opened_by,
        )
    session.add_all(runoffs.values())
    await session.flush()
    for first, candidates, top_two in firsts:
        by_id = {str(c.id): c for c in candidates}
        for choice in top_two or ():
            c = by_id[choice]
            session.add(
                Candidate(
                    election_id=runoffs[first.id].id,
                    user_id=c.user_id,
                    household_id=c.household_id,
                    name=c.name,
                    circle=c.circle,
                    statement=c.statement,
                    source=c.source,
                    nominated_by=c.nominated_by,
                    accepted=True,
                )
            )
        audit(session, "system:election", "election.runoff", "election", runoffs[first.id].id)
    roll = await session.execute(
        select(RollEntry.election_id, RollEntry.household_id).where(
            RollEntry.election_id.in_(sorted(runoffs))
        )
    )
    entries = [
        {"election_id": runoffs[first].id, "household_id": household} for first, household in roll
    ]
    if entries:
        await session.execute(insert(RollEntry), entries)
    await session.flush()
    return runoffs


async def confirm_result(
    session: AsyncSession, election: Election, actor: str, now: datetime, zone: ZoneInfo
) -> Outcome:
    """The secretary confirms the result: an elected head's publication period starts; a
    recall takes effect; anything else ends the election."""
    if election.phase != Phase.CLOSED or election.result is None:
        raise Problem("election.not_closed")
    outcome = Outcome(election.result["outcome"])
    if outcome is Outcome.ELECTED:
        calendar = await WorkCalendar.load(session)
        election.phase = Phase.PUBLICATION.value
        election.publication_ends = calendar.due(now, election.publication_days, zone)
    elif outcome is Outcome.RECALLED:
        election.phase = Phase.RECALLED.value
        if election.recalled_user_id is not None:
            group = Scope(ScopeKind.GROUP, election.group_id, "")
            await revoke_role(session, election.recalled_user_id, Role.NEIGHBOUR_HEAD, group, actor)
    else:
        election.phase = FINAL.get(outcome, Phase.NOT_ELECTED).value
    audit(
        session,
        actor,
        "election.confirm",
        "election",
        election.id,
        after={"outcome": outcome.value, "phase": election.phase},
    )
    return outcome


async def mark_complete(
    session: AsyncSession, elections: Collection[Election], now: datetime
) -> None:
    """Every household on the roll has voted in these: the elections job closes them next."""
    ids = sorted({election.id for election in elections})
    if ids:
        await session.execute(
            update(Election)
            .where(
                Election.id.in_(ids),
                Election.phase == Phase.VOTING.value,
                Election.completed_at.is_(None),
            )
            .values(completed_at=now)
            .execution_options(synchronize_session=False)
        )


async def due_to_close(
    session: AsyncSession, now: datetime, limit: int | None = None
) -> list[Election]:
    """The (first few) elections whose voting has ended at the deadline."""
    return list(
        await session.scalars(
            select(Election)
            .where(Election.phase == Phase.VOTING.value, Election.voting_ends <= now)
            .order_by(Election.id)
            .limit(limit)
        )
    )


async def complete(session: AsyncSession, limit: int) -> list[Election]:
    """The first few elections every household has voted in, waiting to be closed."""
    return list(
        await session.scalars(
            select(Election)
            .where(Election.phase == Phase.VOTING.value, Election.completed_at.is_not(None))
            .order_by(Election.id)
            .limit(limit)
        )
    )


async def due_to_start(session: AsyncSession, now: datetime) -> list[Election]:
    return list(
        await session.scalars(
            select(Election)
            .where(Election.phase == Phase.PUBLICATION.value, Election.publication_ends <= now)
            .order_by(Election.id)
        )
    )


async def start_term(
    session: AsyncSession, election: Election, today: date
) -> tuple[Candidate, RoleAssignment]:
    """The publication period is over: the winner becomes the group's head for a term."""
    if election.phase != Phase.PUBLICATION or election.result is None:
        raise Problem("election.not_in_publication")
    winner = await session.get_one(Candidate, int(election.result["winner"]))
    group = Scope(ScopeKind.GROUP, election.group_id, "")
    actor = f"system:election:{election.id}"
    for head in await live_assignments(session, scope=group, role=Role.NEIGHBOUR_HEAD):
        await revoke_role(session, head.user_id, Role.NEIGHBOUR_HEAD, group, actor)
    assignment = await grant_role(
        session, Grant(winner.user_id, Role.NEIGHBOUR_HEAD, group, term_start=today), actor, today
    )
    election.phase = Phase.TERM_STARTED.value
    audit(session, actor, "election.term", "election", election.id, after={"head": winner.user_id})
    return winner, assignment
