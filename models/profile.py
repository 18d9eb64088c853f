"""A person's name for the estate and a head's phone: set by the person or an estate admin."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import audit
from models.person import Person, Resident
from models.phone import e164
from models.problem import Problem
from models.text_safety import formula_like, has_control_chars

LONGEST_NAME = 32


def clean_name(text: str) -> str:
    """A name as a person may give it: short, plain text, not a spreadsheet formula."""
    name = " ".join(text.split())
    if not name or len(name) > LONGEST_NAME:
        raise Problem("profile.bad_name", limit=LONGEST_NAME)
    if has_control_chars(name) or formula_like(name) or name.startswith("/"):
        raise Problem("profile.bad_name", limit=LONGEST_NAME)
    return name


async def set_name(session: AsyncSession, user_id: int, text: str, actor: str) -> Person:
    """Give a person the name the estate will know them by."""
    name = clean_name(text)
    person = await _person(session, user_id)
    before = person.display_name
    person.display_name = name
    audit(
        session,
        actor,
        "person.name",
        "person",
        user_id,
        before={"name": before},
        after={"name": name},
    )
    return person


def clean_phone(text: str) -> str:
    """A phone number as given (139 0733 1234, 0731-22881234), in E.164."""
    stored = e164(text.strip()) if len(text) <= 32 else None
    if stored is None:
        raise Problem("profile.bad_phone")
    return stored


async def set_phone(
    session: AsyncSession, user_id: int, phone: str | None, on_card: bool, actor: str
) -> Person:
    """Set (or with None clear) a person's phone, and whether it may be printed on cards."""
    stored = clean_phone(phone) if phone is not None else None
    person = await _person(session, user_id)
    person.phone, person.phone_on_card = stored, on_card and stored is not None
    # The number itself stays out of the audit log, like every log: whether it changed is enough.
    audit(
        session,
        actor,
        "person.phone",
        "person",
        user_id,
        after={"phone_set": stored is not None, "on_card": person.phone_on_card},
    )
    return person


async def _person(session: AsyncSession, user_id: int) -> Person:
    person = await session.get(Person, user_id)
    if person is None:
        person = Person(user_id=user_id)
        session.add(person)
    return person


async def set_fee_reminders(
    session: AsyncSession, user_id: int, resident_id: int, on: bool, actor: str
) -> Resident:
    """Turn a resident's monthly fee reminder on or off for their household."""
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.user_id != user_id or resident.unbound_at is not None:
        raise Problem("profile.not_your_household")
    before = resident.fee_reminders
    resident.fee_reminders = on
    audit(
        session,
        actor,
        "resident.fee_reminders",
        "resident",
        resident_id,
        before={"on": before},
        after={"on": on},
    )
    return resident
