"""Twenty writers at once on one SQLite file: every write lands, nobody sees a lock error."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AuditEntry, audit
from models.migrate import upgrade
from models.rows import open_rows
from models.store import Store

WRITERS = 20
ROUNDS = 10


async def _read_then_write(store: Store, writer: int, *, session_kind: str) -> None:
    """Read, yield to the others, then write: the pattern that upgrades a read lock."""
    for round_ in range(ROUNDS):
        opener = store.write() if session_kind == "write" else _deferred(store)
        async with opener as session:
            seen = await session.scalar(select(func.count()).select_from(AuditEntry))
            await asyncio.sleep(0.001)
            audit(
                session, f"writer:{writer}", "test.write", "audit_log", round_, after={"seen": seen}
            )


@asynccontextmanager
async def _deferred(store: Store) -> AsyncIterator[AsyncSession]:
    """A plain read-then-write transaction, as code without the write lock would do it."""
    async with store._read.begin() as session:
        rows = open_rows(session)
        yield session
        await rows.write(session)


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    store = Store(url)
    await upgrade(store)
    await store.dispose()
    return url


async def test_twenty_concurrent_writers_all_land(sqlite_file: str) -> None:
    # One engine per writer, as separate workers would have.
    stores = [Store(sqlite_file) for _ in range(WRITERS)]
    try:
        await asyncio.gather(
            *(_read_then_write(s, n, session_kind="write") for n, s in enumerate(stores))
        )
        async with stores[0].read() as session:
            total = await session.scalar(select(func.count()).select_from(AuditEntry))
    finally:
        for s in stores:
            await s.dispose()
    assert total == WRITERS * ROUNDS


async def test_without_the_write_lock_the_same_load_fails(sqlite_file: str) -> None:
    """Control: shows the test above exercises a real race, not an idle database."""
    stores = [Store(sqlite_file) for _ in range(WRITERS)]
    try:
        results = await asyncio.gather(
            *(_read_then_write(s, n, session_kind="deferred") for n, s in enumerate(stores)),
            return_exceptions=True,
        )
    finally:
        for s in stores:
            await s.dispose()
    failures = [r for r in results if isinstance(r, OperationalError)]
    assert failures, "deferred read-then-write transactions should have collided"
    assert any(isinstance(f.orig, sqlite3.OperationalError) for f in failures)
    assert all("locked" in str(f) for f in failures)


WRITER = """
import asyncio, sys
from models.audit import audit, AuditEntry
from models.store import Store
from sqlalchemy import func, select

async def main(url, writer):
    store = Store(url)
    for round_ in range(10):
        async with store.write() as session:
            seen = await session.scalar(select(func.count()).select_from(AuditEntry))
            await asyncio.sleep(0.001)
            audit(session, f"process:{writer}", "test.write", "audit_log", after={"seen": seen})
    await store.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_twenty_writer_processes_all_land(sqlite_file: str) -> None:
    """Separate processes share only SQLite's own lock: BEGIN IMMEDIATE and the busy timeout."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, sqlite_file, str(n), stderr=asyncio.subprocess.PIPE
        )
        for n in range(WRITERS)
    ]
    results = [await p.communicate() for p in processes]
    errors = [err.decode() for (_, err), p in zip(results, processes, strict=True) if p.returncode]
    assert not errors, errors[0]
    store = Store(sqlite_file)
    async with store.read() as session:
        total = await session.scalar(select(func.count()).select_from(AuditEntry))
    await store.dispose()
    assert total == WRITERS * ROUNDS
