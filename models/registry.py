"""The registry of where people live: street → community → estate → building → group → household."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow


class Street(Base):
    __tablename__ = "street"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    communities: Mapped[list[Community]] = relationship(back_populates="street")


class Community(Base):
    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("street_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))

    street: Mapped[Street] = relationship(back_populates="communities")
    estates: Mapped[list[Estate]] = relationship(back_populates="community")


def estate_prefix(estate_name: str) -> str:
    """Initials of an estate's name in pinyin, e.g. 芙蓉花园 → FRHY."""
    # Imported here: its dictionaries cost 55 MB, paid only where estates are created.
    from pypinyin import Style, lazy_pinyin

    initials = "".join(
        letter[0] for letter in lazy_pinyin(estate_name, style=Style.FIRST_LETTER) if letter
    )
    letters = "".join(c for c in initials.upper() if c.isascii() and c.isalnum())
    return letters[:4] or "LZ"


def _prefix_default(context: Any) -> str:
    return estate_prefix(context.get_current_parameters()["name"])


class Estate(Base):
    __tablename__ = "estate"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64), index=True)
    # Starts the estate's request references; kept when the estate is renamed.
    prefix: Mapped[str | None] = mapped_column(String(8), default=_prefix_default)

    community: Mapped[Community] = relationship(back_populates="estates")
    branch: Mapped[Branch | None] = relationship(back_populates="estate")
    buildings: Mapped[list[Building]] = relationship(back_populates="estate")


class Branch(Base):
    """The estate's party branch (小区党支部); its secretary approves escalations."""

    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(128))

    estate: Mapped[Estate] = relationship(back_populates="branch")


class Building(Base):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("estate_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))

    estate: Mapped[Estate] = relationship(back_populates="buildings")
    groups: Mapped[list[NeighbourGroup]] = relationship(back_populates="building")


class NeighbourGroup(Base):
    """The dozen or so households one neighbour head serves (邻里单元)."""

    __tablename__ = "neighbour_group"
    __table_args__ = (UniqueConstraint("building_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))

    building: Mapped[Building] = relationship(back_populates="groups")


class Household(Base):
    """One dwelling; the unit of voting. Its natural key is building, unit and room."""

    __tablename__ = "household"
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"))
    neighbour_group_id: Mapped[int] = mapped_column(
        ForeignKey("neighbour_group.id", ondelete="RESTRICT"), index=True
    )
    # An empty unit means the building has no units.
    unit: Mapped[str] = mapped_column(String(32), default="")
    room: Mapped[str] = mapped_column(String(32))
    householder: Mapped[str | None] = mapped_column(String(64))
    # E.164; kept out of logs and shown only to those who handle the household.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Households leave the roster but keep their history; removal is a mark, not a delete.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    building: Mapped[Building] = relationship()
    neighbour_group: Mapped[NeighbourGroup] = relationship()
    care: Mapped[list[HouseholdCare]] = relationship(
        back_populates="household", cascade="all, delete-orphan"
    )


class HouseholdCare(Base):
    """A care flag on a household (elderly living alone, disabled, ...)."""

    __tablename__ = "household_care"

    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)

    household: Mapped[Household] = relationship(back_populates="care")
