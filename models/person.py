"""A chat account holder, and their binding to a household as a resident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow
from models.registry import Household


class Person(Base):
    """Someone known by their numeric chat user id; identity is never a display name."""

    __tablename__ = "person"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The name the estate knows them by: from the roster, set by the person, or by an admin;
    # never taken from the chat account's nickname without the person choosing it.
    display_name: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(20))
    # The person agreed that their phone is printed on contact cards (a head's, usually).
    phone_on_card: Mapped[bool] = mapped_column(default=False)
    # The person's own choice of language; None falls back to their client's, then the default.
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Resident(Base):
    """A person bound to a household; several residents may share one household."""

    __tablename__ = "resident"
    __table_args__ = (
        # One live binding per person and household; ended ones stay, so a person who moves
        # out and back in is bound again.
        Index(
            "uq_resident_live",
            "household_id",
            "user_id",
            unique=True,
            sqlite_where=text("unbound_at IS NULL"),
            postgresql_where=text("unbound_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("person.user_id", ondelete="RESTRICT"), index=True
    )
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    unbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the binding ended: left (moved out), refused (a member said "not ours"), removed.
    unbound_reason: Mapped[str | None] = mapped_column(String(16))
    # The resident asked for the estate's monthly fee reminder, privately (off until they do).
    fee_reminders: Mapped[bool] = mapped_column(default=False, server_default=false())

    household: Mapped[Household] = relationship()
    person: Mapped[Person] = relationship()
