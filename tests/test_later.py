"""Rows written at commit: all of them on commit, none of a rolled-back savepoint or transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AuditEntry, audit
from models.person import Person, Resident
from models.registry import Household
from models.store import Store
from tests.registry_factory import make_estate


async def _entries(store: Store) -> list[tuple[str, str | None]]:
    async with store.read() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.entity_id).order_by(AuditEntry.id)
        )
        return [(action, entity_id) for action, entity_id in rows]


async def test_entries_are_written_at_commit_naming_rows_that_got_their_id_on_flush(
    store: Store,
) -> None:
    async with store.write() as session:
        await make_estate(session)
        household = await session.scalar(select(Household))
        assert household is not None
        session.add(Person(user_id=7, display_name="甲"))
        resident = Resident(household_id=household.id, user_id=7)
        session.add(resident)
        audit(session, "user:7", "resident.bind", "resident", resident)
        audit(session, "user:7", "kept", "person", 7)
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                audit(session, "user:7", "rolled.back", "person", 7)
                raise RuntimeError("savepoint rolled back")
        async with session.begin_nested():
            audit(session, "user:7", "released", "person", 7)
    async with store.read() as session:
        resident_id = await session.scalar(select(Resident.id))
    assert await _entries(store) == [
        ("resident.bind", str(resident_id)),
        ("kept", "7"),
        ("released", "7"),
    ]


async def test_a_transaction_rolled_back_writes_none(store: Store) -> None:
    async with AsyncSession(store.engine) as session:
        session.add(Person(user_id=1, display_name="甲"))
        await session.flush()
        audit(session, "cli", "lost", "person", 1)
        await session.rollback()
        audit(session, "cli", "next", "person", 2)
        await session.commit()
    assert await _entries(store) == [("next", "2")]
