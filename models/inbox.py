"""The inbox: every update as it arrived, stored before it is confirmed to the server."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    String,
    UniqueConstraint,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, insert_or_skip, utcnow


class InboxUpdate(Base):
    __tablename__ = "inbox_update"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id"),
        Index(
            "ix_inbox_update_pending",
            "id",
            sqlite_where=text("handled_at IS NULL"),
            postgresql_where=text("handled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the last attempt failed, when it did; the update is then marked handled with it.
    error: Mapped[str | None] = mapped_column(String(200))


async def store_updates(session: AsyncSession, bot_id: int, updates: list[dict[str, Any]]) -> int:
    """Store raw updates, ignoring any already stored; return how many were new."""
    if not updates:
        return 0
    rows = [
        {"bot_id": bot_id, "update_id": int(u["update_id"]), "payload": u, "received_at": utcnow()}
        for u in updates
    ]
    statement = insert_or_skip(session, InboxUpdate).on_conflict_do_nothing(
        index_elements=["bot_id", "update_id"]
    )
    result = await session.execute(statement.returning(InboxUpdate.id), rows)
    return len(result.all())


@dataclass(frozen=True)
class Pending:
    """An update waiting for the worker, as plain values."""

    id: int
    update_id: int
    payload: dict[str, Any]


async def pending_updates(session: AsyncSession, limit: int) -> list[Pending]:
    """The oldest unhandled updates, read without claiming them."""
    rows = await session.execute(_PENDING, {"limit": limit})
    return [Pending(*row) for row in rows]


async def updates_waiting(session: AsyncSession) -> bool:
    """Whether any update waits for the worker: someone is waiting for an answer."""
    return await session.scalar(_WAITING) is not None


async def claim_updates(session: AsyncSession, ids: list[int], *, lock: bool) -> set[int]:
    """Take the updates of `ids` still unhandled; on PostgreSQL other workers skip them.

    On SQLite the write transaction already holds the database's write lock: no one else can
    handle them meanwhile, and one handled since they were read is not taken again.
    """
    if not ids:
        return set()
    query = select(InboxUpdate.id).where(InboxUpdate.id.in_(ids), InboxUpdate.handled_at.is_(None))
    if lock:
        query = query.with_for_update(skip_locked=True)
    return set(await session.scalars(query))


_WAITING = select(InboxUpdate.id).where(InboxUpdate.handled_at.is_(None)).limit(1)

# Built once: the worker asks for every batch.
_PENDING = (
    select(InboxUpdate.id, InboxUpdate.update_id, InboxUpdate.payload)
    .where(InboxUpdate.handled_at.is_(None))
    .order_by(InboxUpdate.id)
    .limit(bindparam("limit"))
)


async def mark_handled(
    session: AsyncSession,
    ids: list[int],
    error: str | None = None,
    *,
    forget: Collection[int] = (),
) -> None:
    """Mark updates handled; blank the stored payload of those among `forget` (their update
    id stays in its column). One statement when all or none are forgotten: on election day
    every update of a batch is a ballot press, forgotten once handled."""
    blank = [i for i in ids if i in forget]
    kept = [i for i in ids if i not in forget]
    now = utcnow()
    payloads: list[tuple[list[int], dict[str, Any]]] = [(kept, {}), (blank, {"payload": {}})]
    for chosen, payload in payloads:
        if chosen:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id.in_(chosen))
                .values(handled_at=now, error=error, **payload)
            )


async def unhandled(session: AsyncSession) -> int:
    """How many stored updates wait for the worker."""
    query = select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None))
    return int(await session.scalar(query) or 0)
