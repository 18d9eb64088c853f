"""Who belongs to a household: binding with a card, leaving, being refused or removed.

A contact card (or a photo of it) is enough to bind, so binding alone proves little: the
household's other members hear of every newcomer and can say "not from our household", a
person who moves out leaves, and the estate admin can remove a member and rotate the card.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import audit
from models.base import utcnow
from models.contact_card import cards_for
from models.person import Person, Resident
from models.problem import Problem
from models.registry import Household


class Unbound(StrEnum):
    LEFT = "left"  # the person moved out (or left on their own)
    REFUSED = "refused"  # a member of the household said the person is not one of them
    REMOVED = "removed"  # the estate admin removed them


def bind(session: AsyncSession, household: Household, person: Person) -> Resident:
    """Bind a person to a household.

    A person new to the estate is bound with no name: the estate knows them by the name they
    choose, never by their chat nickname.
    """
    user_id = person.user_id
    resident = Resident(household_id=household.id, user_id=user_id, consented_at=utcnow())
    session.add(resident)
    audit(
        session,
        f"user:{user_id}",
        "resident.bind",
        "resident",
        resident,
        after={"household_id": household.id, "user_id": user_id},
    )
    return resident


async def members(session: AsyncSession, household_id: int) -> list[int]:
    """The people bound to a household now, in the order they joined."""
    return list(await session.scalars(_MEMBERS, {"household": household_id}))


async def members_of(session: AsyncSession, household_ids: Collection[int]) -> dict[int, list[int]]:
    """The people bound to each of many households, in one statement."""
    found: dict[int, list[int]] = {household: [] for household in household_ids}
    if household_ids:
        rows = await session.execute(_MEMBERS_OF, {"households": sorted(household_ids)})
        for household, user in rows:
            found[household].append(user)
    return found


# Built once: every registration asks (building a statement costs about what running it does).
_MEMBERS = (
    select(Resident.user_id)
    .where(Resident.household_id == bindparam("household"), Resident.unbound_at.is_(None))
    .order_by(Resident.id)
)
_MEMBERS_OF = (
    select(Resident.household_id, Resident.user_id)
    .where(
        Resident.household_id.in_(bindparam("households", expanding=True)),
        Resident.unbound_at.is_(None),
    )
    .order_by(Resident.id)
)


async def live_binding(session: AsyncSession, household_id: int, user_id: int) -> Resident | None:
    return await session.scalar(
        select(Resident).where(
            Resident.household_id == household_id,
            Resident.user_id == user_id,
            Resident.unbound_at.is_(None),
        )
    )


async def unbind(session: AsyncSession, resident: Resident, reason: Unbound, actor: str) -> None:
    """End a binding; the history stays."""
    if resident.unbound_at is not None:
        raise Problem("membership.already_gone")
    resident.unbound_at = utcnow()
    resident.unbound_reason = reason.value
    audit(
        session,
        actor,
        f"resident.{reason.value}",
        "resident",
        resident.id,
        before={"household_id": resident.household_id, "user_id": resident.user_id},
    )


async def refuse(
    session: AsyncSession, resident_id: int, member_id: int
) -> tuple[Resident, Household]:
    """A member says the person bound with binding `resident_id` is not of their household."""
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.unbound_at is not None:
        raise Problem("membership.already_gone")
    if await live_binding(session, resident.household_id, member_id) is None:
        raise Problem("membership.not_a_member")
    await unbind(session, resident, Unbound.REFUSED, f"user:{member_id}")
    return resident, await session.get_one(Household, resident.household_id)


async def remove(
    session: AsyncSession, household: Household, user_id: int, actor: str, *, rotate: bool = True
) -> None:
    """The estate admin removes a member and, unless told not to, replaces the household's card."""
    resident = await live_binding(session, household.id, user_id)
    if resident is None:
        raise Problem("membership.not_bound", user=user_id)
    await unbind(session, resident, Unbound.REMOVED, actor)
    if rotate:
        # The card the removed person holds stops working with the same commit.
        await cards_for(session, [household.id], actor, rotate=True)
