"""The database: one engine, sessions for reading and for writing."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from models.rows import open_rows
from models.sqlite_inline import creator

# Seconds a writer waits for SQLite's lock before giving up; long enough that users never see it.
SQLITE_BUSY_SECONDS = 60


def async_url(url: str | URL) -> URL:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(
        parsed.drivername
    )
    return parsed.set(drivername=driver) if driver else parsed


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class Store:
    """Own the engine; hand out sessions that commit on success and roll back on error."""

    def __init__(self, url: str | URL, *, inline: bool = True, **engine_options: Any) -> None:
        self.url = async_url(url)
        self.sqlite = is_sqlite(self.url)
        self.path = str(self.url.database or "")
        if self.sqlite and inline and self.path and self.path != ":memory:":
            engine_options["async_creator"] = creator(self.path, SQLITE_BUSY_SECONDS)
        elif self.sqlite:
            engine_options.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_SECONDS)
        self.engine: AsyncEngine = create_async_engine(self.url, **engine_options)
        if self.sqlite:
            _configure_sqlite(self.engine)
        # Writers on SQLite take the lock at BEGIN, so two writers queue on the busy timeout
        # instead of one failing when it upgrades a read lock mid-transaction.
        self._writer = self.engine.execution_options(linzhang_write=True)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self._writer, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a session for reading; nothing it does is committed."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a write transaction that commits when the block ends without an error."""
        if not self.sqlite:
            async with self._write() as session, session.begin():
                rows = open_rows(session)
                yield session
                await rows.write(session)  # what its owner left unwritten, before the commit
            return
        async with _write_lock(self.path), self._write() as session, session.begin():
            rows = open_rows(session)
            yield session
            await rows.write(session)

    async def dispose(self) -> None:
        await self.engine.dispose()


# Writers of this process on one SQLite file queue here, across every Store on that file:
# SQLite's busy handler sleeps in growing steps (up to 100 ms), and with SQLite running on the
# loop's thread a writer waiting inside it would stall the very writer it waits for.
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(path: str) -> asyncio.Lock:
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path, asyncio.Lock())


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        if dbapi_connection.isolation_level is not None:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("linzhang_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
