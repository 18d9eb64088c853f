"""The audit log: every change of state says who, when, what, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.rows import rows_of


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # "cli", "user:<id>" or "system:<job>": who caused the change.
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Note an audit entry in the session's transaction, so it commits with the change.

    `entity_id` may be the changed row itself when it has no id yet: the entry is made when
    the transaction's rows are written, after a flush has given the row one.
    """
    at = utcnow()

    def row() -> dict[str, Any]:
        key = entity_id
        if isinstance(key, Base):
            key = inspect(key).identity[0]  # type: ignore[index]
        return {
            "at": at,
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": None if key is None else str(key),
            "before": before,
            "after": after,
        }

    rows_of(session).add(AuditEntry, row)
