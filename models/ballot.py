"""One household, one vote, kept secret: who voted and what was chosen are stored apart.

`Participation` says a household voted (and on which channel); `Ballot` says what one ballot
chose, under a random receipt. They share no key and carry no time. A ballot's primary key is
its receipt and, on SQLite, the table is WITHOUT ROWID, so its storage order is receipt order,
not arrival order. Closing rewrites an election's ballots in random order, so PostgreSQL's
physical order (and the transaction ids on the rows) say nothing afterwards; while voting is
open, PostgreSQL's heap order and xmin do follow arrival — a database reader with system-column
access could then line ballots up with the audit log's times. That is the written limitation.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Collection
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.base import Base, insert_or_skip
from models.election import (
    ABSTAIN,
    Candidate,
    Election,
    Kind,
    Phase,
    Result,
    RollEntry,
    apply_rule,
    choices_of,
    standing,
    voter_household,
)
from models.person import Resident
from models.problem import Problem
from models.rows import rows_of, write_rows

# Without 0/O, 1/I/L: read aloud and typed back by older residents.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 10
ONLINE = "online"


class Participation(Base):
    """That a household voted in an election; never what it chose, never when."""

    __tablename__ = "election_participation"

    election_id: Mapped[int] = mapped_column(
        ForeignKey("election.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="RESTRICT"), primary_key=True
    )
    # online, fixed_box or mobile_box.
    channel: Mapped[str] = mapped_column(String(16))


class Ballot(Base):
    """What one ballot chose, under its receipt; nothing here names a household or a time."""

    __tablename__ = "election_ballot"
    __table_args__ = (
        Index("ix_election_ballot_election", "election_id"),
        {"sqlite_with_rowid": False},
    )

    receipt: Mapped[str] = mapped_column(String(16), primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("election.id", ondelete="CASCADE"))
    # A candidate's id, "abstain", or for a recall "yes" / "no".
    choice: Mapped[str] = mapped_column(String(16))


def new_receipt() -> str:
    # One draw written in the alphabet's base, not a draw per character: as uniform, and a
    # tenth of the calls (every vote makes one).
    number = secrets.randbelow(len(RECEIPT_ALPHABET) ** RECEIPT_LENGTH)
    letters = []
    for _ in range(RECEIPT_LENGTH):
        number, digit = divmod(number, len(RECEIPT_ALPHABET))
        letters.append(RECEIPT_ALPHABET[digit])
    return "".join(letters)


async def participate(
    session: AsyncSession, election_id: int, household_id: int, channel: str
) -> bool:
    """Record that a household voted; False when it already had (the database decides)."""
    statement = (
        insert_or_skip(session, Participation)
        .values(election_id=election_id, household_id=household_id, channel=channel)
        .on_conflict_do_nothing(index_elements=["election_id", "household_id"])
        .returning(Participation.household_id)
    )
    return (await session.execute(statement)).first() is not None


async def participate_online(session: AsyncSession, election: Election, user_id: int) -> int | None:
    """Record that the resident's household on the roll voted online, in one statement;
    return the household, or None when it is not on the roll or has voted already."""
    statement = _participate_online(session.get_bind().dialect.name)
    return (await session.execute(statement, {"election": election.id, "user": user_id})).scalar()


@cache
def _participate_online(dialect: str) -> Any:
    """Built once per dialect: every press runs it (built per call, it cost more than ran)."""
    election: BindParameter[int] = bindparam("election", type_=Integer)
    household = (
        select(election, Resident.household_id, literal(ONLINE))
        .join(
            RollEntry,
            (RollEntry.household_id == Resident.household_id) & (RollEntry.election_id == election),
        )
        .where(Resident.user_id == bindparam("user"), Resident.unbound_at.is_(None))
        .limit(1)
    )
    # On the table, not the class: given parameters, an INSERT on a class inserts them.
    table = Participation.__table__
    assert isinstance(table, Table)
    return (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        .from_select(["election_id", "household_id", "channel"], household)
        .on_conflict_do_nothing(index_elements=["election_id", "household_id"])
        .returning(table.c.household_id)
    )


def add_ballot(session: AsyncSession, election_id: int, choice: str) -> str:
    """Put a ballot in the box under a fresh receipt; return the receipt. Written with the
    transaction's rows (one INSERT for a batch's ballots); counting writes them first."""
    receipt = new_receipt()
    rows_of(session).add(Ballot, {"receipt": receipt, "election_id": election_id, "choice": choice})
    return receipt


async def check_choice(session: AsyncSession, election: Election, choice: str) -> None:
    if choice == ABSTAIN:
        return
    # The posted ballot knows its choices; read the candidates only when it was not posted.
    allowed = election.ballot.get("choices")
    if allowed is None:
        allowed = choices_of(election, await standing(session, election))
    if choice not in allowed:
        raise Problem("election.bad_choice")


def check_open(election: Election, now: datetime) -> None:
    if election.phase != Phase.VOTING or (
        election.voting_ends is not None and election.voting_ends <= now
    ):
        raise Problem("election.not_voting")


class Voters:
    """The households the presses of a batch cast for, read together in one statement: for
    each (election, resident), the household on the roll and whether it has voted. A household
    cast for in the batch is remembered, so its second press is refused without a statement;
    its participation is written with the batch's rows, where the database's unique key on it
    still decides, whoever else is casting at once."""

    def __init__(self) -> None:
        self._homes: dict[tuple[int, int], int | None] = {}
        self._voted: set[tuple[int, int]] = set()

    async def read(self, session: AsyncSession, pairs: Collection[tuple[int, int]]) -> None:
        """Read, for (election, resident) pairs, their households on the rolls."""
        wanted = set(pairs) - set(self._homes)
        if not wanted:
            return
        self._homes.update({pair: None for pair in wanted})
        found = await session.execute(
            _VOTERS,
            {
                "elections": sorted({election for election, _ in wanted}),
                "users": sorted({user for _, user in wanted}),
            },
        )
        for election_id, user_id, household_id, voted in found:
            key = (election_id, user_id)
            if key not in wanted:
                continue
            # A resident of two households on one roll casts for the lower-numbered one.
            if self._homes[key] is None or household_id < (self._homes[key] or 0):
                self._homes[key] = household_id
            if voted is not None:
                self._voted.add((election_id, household_id))

    def knows(self, election_id: int, user_id: int) -> bool:
        return (election_id, user_id) in self._homes

    def claim(self, session: AsyncSession, election_id: int, user_id: int) -> int:
        """Cast for the resident's household; return it. Raises when it is not on the roll or
        has voted."""
        household = self._homes[(election_id, user_id)]
        if household is None:
            raise Problem("election.not_on_roll")
        if (election_id, household) in self._voted:
            raise Problem("election.household_voted")
        self._voted.add((election_id, household))
        rows_of(session).add(
            Participation,
            {"election_id": election_id, "household_id": household, "channel": ONLINE},
        )
        return household


# Built once: every batch of presses reads it.
_VOTERS = (
    select(
        RollEntry.election_id,
        Resident.user_id,
        Resident.household_id,
        Participation.household_id,
    )
    .join(RollEntry, RollEntry.household_id == Resident.household_id)
    .outerjoin(
        Participation,
        (Participation.election_id == RollEntry.election_id)
        & (Participation.household_id == Resident.household_id),
    )
    .where(
        Resident.user_id.in_(bindparam("users", expanding=True)),
        RollEntry.election_id.in_(bindparam("elections", expanding=True)),
        Resident.unbound_at.is_(None),
    )
)


async def cast(
    session: AsyncSession,
    election: Election,
    user_id: int,
    choice: str,
    now: datetime,
    voters: Voters | None = None,
) -> str:
    """Cast a household's ballot online for the resident who pressed; return the receipt.

    The first member of a household to vote casts its ballot; the others are refused by the
    database's unique key on the participation, whoever wins a race. `voters`, read for a
    batch of presses, saves the statement that asks.
    """
    check_open(election, now)
    await check_choice(session, election, choice)
    if voters is not None and voters.knows(election.id, user_id):
        household: int | None = voters.claim(session, election.id, user_id)
    else:
        household = await participate_online(session, election, user_id)
    if household is None:
        # Nothing was written; say why.
        if await voter_household(session, election, user_id) is None:
            raise Problem("election.not_on_roll")
        raise Problem("election.household_voted")
    receipt = add_ballot(session, election.id, choice)
    # That the household voted, never the choice.
    audit(
        session,
        f"user:{user_id}",
        "election.vote",
        "election",
        election.id,
        after={"household": household, "channel": ONLINE},
    )
    return receipt


async def turnout(session: AsyncSession, election_id: int) -> int:
    """How many households have voted."""
    await write_rows(session)  # the participations cast in this transaction
    return int(await session.scalar(_TURNOUT, {"election": election_id}) or 0)


async def turnouts(session: AsyncSession, election_ids: Collection[int]) -> dict[int, int]:
    """How many households have voted in each of several elections, in one statement."""
    found = {election_id: 0 for election_id in election_ids}
    if found:
        await write_rows(session)  # the participations cast in this transaction
        rows = await session.execute(_TURNOUTS, {"elections": sorted(found)})
        found.update({election_id: int(n) for election_id, n in rows})
    return found


async def reshuffle_many(
    session: AsyncSession, election_ids: Collection[int]
) -> list[tuple[str, int, str]]:
    """Rewrite several elections' ballots in random order, so storage order says nothing;
    return them, (receipt, election, choice), in that order."""
    await rows_of(session).write(session)  # the ballots cast in this transaction
    ids = sorted(election_ids)
    rows = [
        (receipt, election_id, choice)
        for receipt, election_id, choice in await session.execute(
            select(Ballot.receipt, Ballot.election_id, Ballot.choice).where(
                Ballot.election_id.in_(ids)
            )
        )
    ]
    random.SystemRandom().shuffle(rows)
    await session.execute(delete(Ballot).where(Ballot.election_id.in_(ids)))
    if rows:
        await session.execute(
            insert(Ballot), [{"receipt": r, "election_id": e, "choice": c} for r, e, c in rows]
        )
    return rows


async def published(session: AsyncSession, election: Election) -> list[tuple[str, str]]:
    """The (receipt, choice) list anyone may check, shuffled; only once voting is over."""
    if election.phase in (Phase.NOMINATION, Phase.VOTING):
        raise Problem("election.not_closed")
    rows = [
        (r, c)
        for r, c in await session.execute(
            select(Ballot.receipt, Ballot.choice).where(Ballot.election_id == election.id)
        )
    ]
    random.SystemRandom().shuffle(rows)
    return rows


async def find_receipt(session: AsyncSession, receipt: str) -> tuple[Election, str] | None:
    """The closed election and the choice a receipt stands for."""
    found = await session.get(Ballot, receipt.strip().upper())
    if found is None:
        return None
    election = await session.get_one(Election, found.election_id)
    if election.phase in (Phase.NOMINATION, Phase.VOTING):
        return None
    return election, found.choice


async def candidate_names(session: AsyncSession, election_id: int) -> dict[str, str]:
    rows = await session.execute(
        select(Candidate.id, Candidate.name).where(Candidate.election_id == election_id)
    )
    return {str(i): name for i, name in rows}


_TURNOUT = (
    select(func.count())
    .select_from(Participation)
    .where(Participation.election_id == bindparam("election"))
)
_TURNOUTS = (
    select(Participation.election_id, func.count())
    .where(Participation.election_id.in_(bindparam("elections", expanding=True)))
    .group_by(Participation.election_id)
)


def recount(election: Election, ballots: list[tuple[str, str]], choices: list[str]) -> Result:
    """Apply the rule to a published list, as anyone checking it would."""
    tally: dict[str, int] = {}
    for _, choice in ballots:
        tally[choice] = tally.get(choice, 0) + 1
    return apply_rule(Kind(election.kind), election.roll_size, tally, choices)
