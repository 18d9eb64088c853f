"""Contact cards (联系卡): an opaque, revocable payload per household for the deep link."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, bindparam, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.address import address, natural_key
from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.person import Person, Resident
from models.registry import Building, Estate, Household
from models.role import Role, RoleAssignment
from models.scope import ScopeKind

# 16 random bytes give 128 bits in 22 url-safe characters; Telegram allows 64 of [A-Za-z0-9_-].
PAYLOAD_BYTES = 16
PAYLOAD_FORM = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ContactCard(Base):
    __tablename__ = "contact_card"
    __table_args__ = (
        # At most one card in force per household; rotated ones stay for the record.
        Index(
            "uq_contact_card_live",
            "household_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        # Every card of a household, revoked ones too: the figures count cards in force at a
        # period's end, a street's at a time, without reading the district's.
        Index("ix_contact_card_household_id", "household_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    household: Mapped[Household] = relationship()


def new_payload() -> str:
    """Return a fresh random payload for a deep link."""
    return secrets.token_urlsafe(PAYLOAD_BYTES)


def deep_link(bot_username: str, payload: str) -> str:
    """Return the link that opens the bot with the card's payload."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


@dataclass
class Issue:
    """The cards in force for some households, and how many were new or replaced."""

    cards: dict[int, ContactCard]
    issued: int = 0
    rotated: int = 0


async def cards_for(
    session: AsyncSession, household_ids: list[int], actor: str, *, rotate: bool = False
) -> Issue:
    """Return each household's card in force, issuing one where missing or when rotating."""
    live: dict[int, ContactCard] = {}
    for start in range(0, len(household_ids), 500):
        chunk = household_ids[start : start + 500]
        rows = await session.scalars(
            select(ContactCard).where(
                ContactCard.household_id.in_(chunk), ContactCard.revoked_at.is_(None)
            )
        )
        live.update({card.household_id: card for card in rows})
    issue = Issue(cards={})
    if rotate and live:
        now = utcnow()
        for card in live.values():
            card.revoked_at = now
        issue.rotated = len(live)
        # The partial unique index must see the revocations before the new cards.
        await session.flush()
        live = {}
    for household_id in household_ids:
        found = live.get(household_id)
        if found is None:
            found = ContactCard(household_id=household_id, payload=new_payload())
            session.add(found)
            issue.issued += 1
        issue.cards[household_id] = found
    await session.flush()
    if issue.issued:
        audit(
            session,
            actor,
            "card.rotate" if rotate else "card.issue",
            "contact_card",
            after={
                "households": len(household_ids),
                "issued": issue.issued,
                "rotated": issue.rotated,
                "household_ids": household_ids,
            },
        )
    return issue


async def household_for_payload(session: AsyncSession, payload: str) -> Household | None:
    """Resolve a payload to its household, or None if unknown, revoked or removed."""
    if not PAYLOAD_FORM.fullmatch(payload):
        return None
    return await session.scalar(_HOUSEHOLD_BY_PAYLOAD, {"payload": payload})


async def card_for(
    session: AsyncSession, payload: str, user_id: int
) -> tuple[Household, bool] | None:
    """The household a card opens and whether this person is bound to it already, in one
    statement (every registration asks both); None for an unknown or revoked card."""
    if not PAYLOAD_FORM.fullmatch(payload):
        return None
    found = (await session.execute(_CARD_FOR, {"payload": payload, "user": user_id})).first()
    return None if found is None else (found[0], bool(found[1]))


async def card_for_many(
    session: AsyncSession, asked: Collection[tuple[str, int]]
) -> dict[tuple[str, int], tuple[Household, bool] | None]:
    """Answer `card_for` for many (payload, person) pairs at once, in two statements."""
    found: dict[tuple[str, int], tuple[Household, bool] | None] = dict.fromkeys(asked)
    payloads = sorted({payload for payload, _ in asked if PAYLOAD_FORM.fullmatch(payload)})
    if not payloads:
        return found
    households: dict[str, Household] = {
        payload: household
        for payload, household in await session.execute(
            _HOUSEHOLDS_BY_PAYLOAD, {"payloads": payloads}
        )
    }
    if not households:
        return found
    users = sorted({user for _, user in asked})
    ids = sorted({household.id for household in households.values()})
    bound = {
        (household, user)
        for household, user in await session.execute(_BOUND, {"households": ids, "users": users})
    }
    for payload, user in asked:
        household = households.get(payload)
        if household is not None:
            found[(payload, user)] = (household, (household.id, user) in bound)
    return found


@dataclass(frozen=True)
class CardInfo:
    """What one household's card shows, apart from its link."""

    household_id: int
    estate: str
    building: str
    unit: str
    room: str
    householder: str | None
    # Whether the household's group has a head now; the name and phone only when given.
    has_head: bool
    head_name: str | None
    head_phone: str | None

    @property
    def label(self) -> str:
        return address(self.estate, self.building, self.unit, self.room)


async def estate_cards(
    session: AsyncSession, estate: Estate, today: date, building: str | None = None
) -> list[tuple[Household, CardInfo]]:
    """List an estate's households on the roster with their head, in building and room order."""
    query = (
        select(Household, Building.name)
        .join(Building, Household.building_id == Building.id)
        .where(Building.estate_id == estate.id, Household.removed_at.is_(None))
    )
    if building is not None:
        query = query.where(Building.name == building)
    rows = (await session.execute(query)).all()
    heads = await heads_of_groups(
        session, {household.neighbour_group_id for household, _ in rows}, today
    )
    cards = [
        (
            household,
            CardInfo(
                household_id=household.id,
                estate=estate.name,
                building=building_name,
                unit=household.unit,
                room=household.room,
                householder=household.householder,
                has_head=household.neighbour_group_id in heads,
                head_name=heads.get(household.neighbour_group_id, (None, None))[0],
                head_phone=heads.get(household.neighbour_group_id, (None, None))[1],
            ),
        )
        for household, building_name in rows
    ]
    return sorted(cards, key=lambda card: _natural(card[1]))


async def heads_of_groups(
    session: AsyncSession, group_ids: set[int], today: date
) -> dict[int, tuple[str | None, str | None]]:
    """Map each group to its serving head's name and the phone they agreed to show."""
    if not group_ids:
        return {}
    rows = await session.execute(_HEADS, {"groups": sorted(group_ids), "today": today})
    return {group: (name, phone if shown else None) for group, name, phone, shown in rows}


# Built once: these run for nearly every registration, and building a statement costs about
# as much CPU as running it (BENCHMARKS.md).
_HOUSEHOLD_BY_PAYLOAD = (
    select(Household)
    .join(ContactCard, ContactCard.household_id == Household.id)
    .where(
        ContactCard.payload == bindparam("payload"),
        ContactCard.revoked_at.is_(None),
        Household.removed_at.is_(None),
    )
)
_CARD_FOR = _HOUSEHOLD_BY_PAYLOAD.add_columns(
    select(Resident.id)
    .where(
        Resident.household_id == Household.id,
        Resident.user_id == bindparam("user"),
        Resident.unbound_at.is_(None),
    )
    .exists()
)
_HOUSEHOLDS_BY_PAYLOAD = (
    select(ContactCard.payload, Household)
    .join(ContactCard, ContactCard.household_id == Household.id)
    .where(
        ContactCard.payload.in_(bindparam("payloads", expanding=True)),
        ContactCard.revoked_at.is_(None),
        Household.removed_at.is_(None),
    )
)
_BOUND = select(Resident.household_id, Resident.user_id).where(
    Resident.household_id.in_(bindparam("households", expanding=True)),
    Resident.user_id.in_(bindparam("users", expanding=True)),
    Resident.unbound_at.is_(None),
)
_HEADS = (
    select(RoleAssignment.scope_id, Person.display_name, Person.phone, Person.phone_on_card)
    .join(Person, RoleAssignment.user_id == Person.user_id)
    .where(
        RoleAssignment.role == Role.NEIGHBOUR_HEAD.value,
        RoleAssignment.scope_kind == ScopeKind.GROUP.value,
        RoleAssignment.scope_id.in_(bindparam("groups", expanding=True)),
        RoleAssignment.revoked_at.is_(None),
        or_(RoleAssignment.term_start.is_(None), RoleAssignment.term_start <= bindparam("today")),
        or_(RoleAssignment.term_end.is_(None), RoleAssignment.term_end > bindparam("today")),
    )
)


def _natural(card: CardInfo) -> tuple[tuple[object, ...], ...]:
    return natural_key(card.building, card.unit, card.room)
