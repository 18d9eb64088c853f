"""Paper ballots: codes issued per household and box, entered twice by two tellers.

Issuing a code records that the household voted (on paper) and blocks it online; the code row
names its box only, never the household, so the entries and the ballot cannot be traced back.
A ballot counts once two different tellers have entered its code with the same choice; the
entries are then deleted and the ballot goes into the box under a fresh receipt. Until the
second entry, the first one holds the code beside the choice: the teller has read the paper.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.audit import audit
from models.ballot import add_ballot, check_choice, participate
from models.base import Base
from models.election import Candidate, Election, Phase, on_roll
from models.problem import Problem

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class Box(StrEnum):
    FIXED = "fixed_box"
    MOBILE = "mobile_box"


class PaperCode(Base):
    __tablename__ = "election_paper_code"
    __table_args__ = ({"sqlite_with_rowid": False},)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("election.id", ondelete="CASCADE"))
    box: Mapped[str] = mapped_column(String(16))
    entered: Mapped[bool] = mapped_column(default=False)


class PaperEntry(Base):
    """One teller's reading of one paper ballot, until a second teller agrees."""

    __tablename__ = "election_paper_entry"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    teller_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("election.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(16))


async def check_teller(session: AsyncSession, election: Election, teller: int) -> None:
    """A teller is never a candidate of the election they count."""
    if await session.scalar(
        select(Candidate.id).where(
            Candidate.election_id == election.id, Candidate.user_id == teller
        )
    ):
        raise Problem("election.teller_is_candidate")


async def issue(
    session: AsyncSession, election: Election, household_id: int, box: Box, teller: int
) -> str:
    """Issue a household a paper ballot code for a box; it can no longer vote online."""
    if election.phase != Phase.VOTING:
        raise Problem("election.not_voting")
    await check_teller(session, election, teller)
    if not await on_roll(session, election.id, household_id):
        raise Problem("election.not_on_roll")
    if not await participate(session, election.id, household_id, box.value):
        raise Problem("election.paper_household_voted")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    session.add(PaperCode(code=code, election_id=election.id, box=box.value))
    audit(
        session,
        f"user:{teller}",
        "election.paper_issue",
        "election",
        election.id,
        after={"household": household_id, "box": box.value},
    )
    return code


async def enter(
    session: AsyncSession, election: Election, code: str, choice: str, teller: int
) -> bool:
    """A teller enters a paper ballot; return True when it now counts (two tellers agree)."""
    if election.phase != Phase.VOTING:
        raise Problem("election.not_voting")
    await check_teller(session, election, teller)
    code = code.strip().upper()
    paper = await session.get(PaperCode, code)
    if paper is None or paper.election_id != election.id:
        raise Problem("election.paper_unknown_code", code=code)
    if paper.entered:
        raise Problem("election.paper_code_used", code=code)
    await check_choice(session, election, choice)
    entries = list(await session.scalars(select(PaperEntry).where(PaperEntry.code == code)))
    if any(e.teller_user_id == teller for e in entries):
        raise Problem("election.paper_same_teller", code=code)
    if not entries:
        session.add(
            PaperEntry(code=code, teller_user_id=teller, election_id=election.id, choice=choice)
        )
        audit(session, f"user:{teller}", "election.paper_first", "election", election.id)
        return False
    if entries[0].choice != choice:
        raise Problem("election.paper_disagree", code=code)
    entered = await session.scalar(
        select(func.count())
        .select_from(PaperCode)
        .where(
            PaperCode.election_id == election.id,
            PaperCode.box == paper.box,
            PaperCode.entered.is_(True),
        )
    )
    issued = await session.scalar(
        select(func.count())
        .select_from(PaperCode)
        .where(PaperCode.election_id == election.id, PaperCode.box == paper.box)
    )
    if (entered or 0) + 1 > (issued or 0):
        raise Problem("election.paper_more_than_issued")
    await session.execute(delete(PaperEntry).where(PaperEntry.code == code))
    paper.entered = True
    add_ballot(session, election.id, choice)
    audit(
        session,
        f"user:{teller}",
        "election.paper_count",
        "election",
        election.id,
        after={"box": paper.box},
    )
    return True
