"""Contact cards (联系卡): an opaque, revocable payload per household for the deep link."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import audit
from models.base import Base, UTCDateTime, utcnow
from models.registry import Household

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


async def cards_for(
    session: AsyncSession, households: list[Household], actor: str, *, rotate: bool = False
) -> dict[int, ContactCard]:
    """Return each household's card in force, issuing one where missing or when rotating."""
    ids = [h.id for h in households]
    live: dict[int, ContactCard] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await session.scalars(
            select(ContactCard).where(
                ContactCard.household_id.in_(chunk), ContactCard.revoked_at.is_(None)
            )
        )
        live.update({card.household_id: card for card in rows})
    now = utcnow()
    if rotate:
        for card in live.values():
            card.revoked_at = now
            audit(
                session,
                actor,
                "card.rotate",
                "contact_card",
                card.id,
                after={"household_id": card.household_id},
            )
        # The partial unique index must see the revocations before the new cards.
        await session.flush()
        live = {}
    for household_id in ids:
        if household_id not in live:
            fresh = ContactCard(household_id=household_id, payload=new_payload())
            session.add(fresh)
            live[household_id] = fresh
    await session.flush()
    return live


async def household_for_payload(session: AsyncSession, payload: str) -> Household | None:
    """Resolve a payload to its household, or None if unknown, revoked or removed."""
    if not PAYLOAD_FORM.fullmatch(payload):
        return None
    card = await session.scalar(
        select(ContactCard).where(ContactCard.payload == payload, ContactCard.revoked_at.is_(None))
    )
    if card is None:
        return None
    household = await session.get(Household, card.household_id)
    if household is None or household.removed_at is not None:
        return None
    return household
