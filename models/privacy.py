"""A person's data as the Personal Information Protection Law asks: shown to them, erased on
request or after they left, and every look at it by staff on record.

Erasing keeps the figures: rows that count something (a request filed, a role held, a binding
to a household) keep their place under a pseudonym, a negative id no chat account can have;
what only served the person (their conversations, buttons, menus, messages) goes; their name,
phone and chat id are blanked wherever a text or a record carries them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, Table, Text, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import schema
from models.audit import AuditEntry, audit
from models.inbox import InboxUpdate
from models.outbox import OutboxMessage
from models.person import Person, Resident
from models.role import RoleAssignment

# Columns holding a person's chat user id in rows that count something: moved to the pseudonym.
KEPT_UNDER_PSEUDONYM: dict[str, tuple[str, ...]] = {
    "resident": ("user_id",),
    "role_assignment": ("user_id",),
    "request": ("filed_by", "handler_user_id"),
    "request_follower": ("user_id",),
    "mediation": ("mediator_user_id",),
    "deliberation": ("convened_by",),
    "deliberation_invitation": ("user_id",),
    "building_chat": ("bound_by",),
    "election": ("recalled_user_id",),
    "election_candidate": ("user_id", "nominated_by"),
    "election_paper_entry": ("teller_user_id",),
    "election_recall_signature": ("head_user_id",),
    "visit": ("head_user_id",),
    "cleaning_day": ("marked_by",),
    "cleaning_signup": ("user_id",),
    "notice": ("author_user_id",),
    "notice_read": ("user_id",),
    # A weekly push's key names the chat it went to: a person's, for a private push.
    "occurrence_send": ("chat_id",),
}
# Rows that exist only for the person's own use of the chat: deleted with them.
DELETED_WITH_PERSON: dict[str, str] = {
    "button_token": "user_id",
    "conversation": "user_id",
    "group_welcome": "user_id",
    "published_menu": "user_id",
}
# Tables whose texts are the estate's own (places, calendars, rules), never a person's.
NOT_PERSONAL = frozenset(
    {
        "alembic_version",
        "street",
        "community",
        "estate",
        "branch",
        "building",
        "neighbour_group",
        "calendar_day",
        "deadline_rule",
        "estate_settings",
        "reference_counter",
    }
)
# Pseudonyms count down from here: far below any group's chat id (-100 and 10 digits).
FIRST_PSEUDONYM = -(10**15)
ERASED = "[erased]"
ACCESS = "personal_data.opened"


@dataclass(frozen=True)
class Erasure:
    pseudonym: int
    rows_changed: int


def _table(name: str) -> Table:
    return schema.metadata.tables[name]


async def export(session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """Everything stored about a person, as plain data; None if nothing is."""
    person = await session.get(Person, user_id)
    if person is None:
        return None
    data: dict[str, Any] = {
        "person": _row(person.__table__, person),
        "tables": {},
    }
    for name, columns in {**KEPT_UNDER_PSEUDONYM, **_deleted_as_columns()}.items():
        table = _table(name)
        condition = or_(*(table.c[column] == user_id for column in columns))
        rows = (await session.execute(select(table).where(condition))).mappings().all()
        if rows:
            data["tables"][name] = [_plain(dict(row)) for row in rows]
    sent = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.chat_id == user_id).order_by(OutboxMessage.id)
    )
    messages = [
        {"at": _plain(m.sent_at or m.created_at), "text": m.params.get("text")} for m in sent
    ]
    if messages:
        data["tables"]["messages_to_you"] = messages
    entries = await session.scalars(
        select(AuditEntry)
        .where(or_(AuditEntry.actor == f"user:{user_id}", AuditEntry.entity_id == str(user_id)))
        .order_by(AuditEntry.id)
    )
    data["tables"]["audit_log"] = [_row(AuditEntry.__table__, entry) for entry in entries]
    return data


async def erase(session: AsyncSession, user_id: int, actor: str) -> Erasure | None:
    """Remove a person's name, phone and chat identity; keep what they count for."""
    person = await session.get(Person, user_id)
    if person is None:
        return None
    lowest = await session.scalar(select(func.min(Person.user_id)))
    pseudonym = min(FIRST_PSEUDONYM, (lowest or 0) - 1)
    secrets = [s for s in (person.display_name, person.phone) if s and len(s) >= 2]
    changed = 0
    session.add(Person(user_id=pseudonym, created_at=person.created_at))
    await session.flush()
    for name, columns in KEPT_UNDER_PSEUDONYM.items():
        table = _table(name)
        for column in columns:
            result = await session.execute(
                update(table).where(table.c[column] == user_id).values({column: pseudonym})
            )
            changed += _count(result)
    for name, column in DELETED_WITH_PERSON.items():
        table = _table(name)
        changed += _count(await session.execute(delete(table).where(table.c[column] == user_id)))
    changed += _count(
        await session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == user_id))
    )
    changed += _count(
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.cause_user_id == user_id)
            .values(cause_user_id=None)
        )
    )
    changed += await _forget_updates(session, user_id)
    changed += await _scrub_audit_ids(session, user_id, pseudonym)
    for table in schema.metadata.sorted_tables:
        if table.name not in NOT_PERSONAL:
            changed += await _scrub_texts(session, table, user_id, f"user:{pseudonym}", secrets)
            changed += await _scrub_documents(session, table, user_id, pseudonym, secrets)
    session.expunge(person)
    await session.execute(delete(Person).where(Person.user_id == user_id))
    # The erasure itself is on record, under the pseudonym only.
    audit(session, actor, "person.erased", "person", pseudonym)
    return Erasure(pseudonym, changed)


async def departed(session: AsyncSession, retention: timedelta, now: datetime) -> list[int]:
    """People whose last binding to a household ended longer ago than the retention period,
    who are bound nowhere now and hold no role."""
    live = select(Resident.user_id).where(Resident.unbound_at.is_(None))
    serving = select(RoleAssignment.user_id).where(RoleAssignment.revoked_at.is_(None))
    query = (
        select(Resident.user_id)
        .where(
            Resident.user_id > 0, Resident.user_id.not_in(live), Resident.user_id.not_in(serving)
        )
        .group_by(Resident.user_id)
        .having(func.max(Resident.unbound_at) < now - retention)
    )
    return list(await session.scalars(query))


def note_access(session: AsyncSession, viewer: str, user_ids: list[int], purpose: str) -> None:
    """Put on record that a worker was shown these people's personal data, and why."""
    for user_id in sorted(set(user_ids)):
        if user_id > 0:
            audit(session, viewer, ACCESS, "person", user_id, after={"purpose": purpose})


async def access_log(
    session: AsyncSession, user_id: int | None = None, since: datetime | None = None
) -> list[AuditEntry]:
    """Every look at a person's data by someone else, oldest first."""
    query = select(AuditEntry).where(AuditEntry.action == ACCESS)
    if user_id is not None:
        query = query.where(AuditEntry.entity_id == str(user_id))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(await session.scalars(query.order_by(AuditEntry.id)))


def _deleted_as_columns() -> dict[str, tuple[str, ...]]:
    return {name: (column,) for name, column in DELETED_WITH_PERSON.items()}


async def _forget_updates(session: AsyncSession, user_id: int) -> int:
    """Delete the stored updates handled that came from or named the person."""
    candidates = await session.execute(
        select(InboxUpdate.id, InboxUpdate.payload).where(
            InboxUpdate.handled_at.is_not(None),
            cast(InboxUpdate.payload, Text).contains(str(user_id), autoescape=True),
        )
    )
    doomed = [row_id for row_id, payload in candidates if _mentions(payload, user_id)]
    if doomed:
        await session.execute(delete(InboxUpdate).where(InboxUpdate.id.in_(doomed)))
    return len(doomed)


async def _scrub_audit_ids(session: AsyncSession, user_id: int, pseudonym: int) -> int:
    """Move the audit entries about the person to the pseudonym."""
    return _count(
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.entity_id == str(user_id))
            .values(entity_id=str(pseudonym))
        )
    )


async def _scrub_texts(
    session: AsyncSession, table: Table, user_id: int, actor: str, secrets: list[str]
) -> int:
    """Blank the name and phone inside every text column of a table, and move the person as an
    actor ("user:<id>", who granted, who acted) to the pseudonym."""
    changed = 0
    for column in table.columns:
        if not isinstance(column.type, String) or column.primary_key:
            continue
        length = getattr(column.type, "length", None)
        if length is None or length >= len(actor):  # a phone's column holds no actor
            result = await session.execute(
                update(table).where(column == f"user:{user_id}").values({column.name: actor})
            )
            changed += _count(result)
        for secret in secrets:
            result = await session.execute(
                update(table)
                .where(column.contains(secret, autoescape=True))
                .values({column.name: func.replace(column, secret, ERASED)})
            )
            changed += _count(result)
    return changed


async def _scrub_documents(
    session: AsyncSession, table: Table, user_id: int, pseudonym: int, secrets: list[str]
) -> int:
    """Rewrite the JSON documents of a table that carry the id, the name or the phone."""
    documents = [c for c in table.columns if isinstance(c.type, JSON)]
    if not documents:
        return 0
    keys = list(table.primary_key.columns)
    needles = [str(user_id)] + [form for s in secrets for form in _stored_forms(s)]
    changed = 0
    for column in documents:
        text = cast(column, Text)
        rows = await session.execute(
            select(*keys, column).where(or_(*(text.contains(n, autoescape=True) for n in needles)))
        )
        for *key, document in rows:
            scrubbed = _replace(document, user_id, pseudonym, secrets)
            if scrubbed != document:
                match = [k == value for k, value in zip(keys, key, strict=True)]
                await session.execute(update(table).where(*match).values({column.name: scrubbed}))
                changed += 1
    return changed


def _stored_forms(secret: str) -> list[str]:
    """How a text appears inside stored JSON: as written, or with non-ASCII escaped."""
    return list({secret, json.dumps(secret)[1:-1]})


def _replace(value: Any, user_id: int, pseudonym: int, secrets: list[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, user_id, pseudonym, secrets, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, user_id, pseudonym, secrets, key) for v in value]
    if isinstance(value, bool):
        return value
    # Only where a key says it is a person: a message id may equal a user id by chance.
    if isinstance(value, int) and value == user_id and _names_person(key):
        return pseudonym
    if isinstance(value, str):
        if value == str(user_id) and _names_person(key):
            return str(pseudonym)
        for secret in secrets:
            value = value.replace(secret, ERASED)
    return value


def _names_person(key: str) -> bool:
    people = {"id", "user", "user_id", "chat_id", "member", "by", "candidate", "candidates"}
    return (
        key in people
        or key in {"winner", "head", "teller"}
        or key.endswith(("_user_id", "_by", "_user"))
    )


def _mentions(value: Any, user_id: int) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, user_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, user_id) for v in value)
    return not isinstance(value, bool) and value == user_id


def _row(table: Any, obj: Any) -> dict[str, Any]:
    return {column.key: _plain(getattr(obj, column.key)) for column in table.columns}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
