"""The database: one engine, sessions for reading and for writing.

SQLite runs on the loop's own thread (models.sqlite_inline), so nothing here may wait inside
SQLite: a writer waits for another process's lock in asyncio sleeps between short attempts,
and a running bot copies the WAL back into the database file on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from models.rows import open_rows
from models.sqlite_inline import creator

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds a writer waits for SQLite's lock before giving up; long enough that users never see it.
SQLITE_BUSY_SECONDS = 60
# How long one statement may wait for a lock inside SQLite. SQLite's busy handler sleeps on the
# calling thread, which is the loop's: this bounds what one attempt can cost every chat.
SQLITE_STATEMENT_BUSY_MS = 5
# Pauses between a writer's attempts at a lock another process holds: doubling, capped, so a
# long hold costs the loop one short attempt per pause and a release is seen within the cap.
LOCK_FIRST_WAIT = 0.002
LOCK_MAX_WAIT = 0.05
# How often a running bot looks at the WAL, and how large it lets it grow before copying it
# back into the database file: SQLite's own checkpoint copies 1000 pages of 4 KB, which the
# fastest writes here fill in a quarter of a second.
CHECKPOINT_SECONDS = 0.25
CHECKPOINT_BYTES = 1000 * 4096
# SQLite's default: the commit that takes the WAL past this many pages checkpoints it.
SQLITE_AUTOCHECKPOINT = 1000
_AUTOCHECKPOINT = "linzhang.wal_autocheckpoint"


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
        on_file = self.sqlite and self.path not in ("", ":memory:")
        # The file itself, as SQLite names its -wal beside it: a symlink is the same database.
        self.file = os.path.realpath(self.path) if on_file else None
        busy = SQLITE_STATEMENT_BUSY_MS / 1000
        if on_file and inline:
            engine_options["async_creator"] = creator(self.path, busy)
        elif self.sqlite:
            engine_options.setdefault("connect_args", {}).setdefault("timeout", busy)
        self.engine: AsyncEngine = create_async_engine(self.url, **engine_options)
        # Writes that found another process holding SQLite's write lock and waited for it.
        self.lock_waits = 0
        # What the last background checkpoint answered: (busy, frames in the WAL, copied).
        self.last_checkpoint: tuple[int, int, int] | None = None
        # Commands keep SQLite's checkpoints at commit; a running bot turns them off (0).
        self._autocheckpoint = SQLITE_AUTOCHECKPOINT
        if self.sqlite:
            _configure_sqlite(self.engine, lambda: self._autocheckpoint)
        # Writers on SQLite take the lock at BEGIN, so two writers queue for it instead of one
        # failing when it upgrades a read lock mid-transaction; `write()` retries that BEGIN.
        self._writer = self.engine.execution_options(linzhang_write=True, linzhang_retry=True)
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
        async with _write_lock(self.file or self.path), self._write() as session:
            await self._begin_write(session)
            rows = open_rows(session)
            yield session
            await rows.write(session)
            await session.commit()  # on an error, leaving the session rolls back

    async def _begin_write(self, session: AsyncSession) -> None:
        """Take SQLite's write lock at BEGIN; while another process holds it, wait on the loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_SECONDS
        pause = LOCK_FIRST_WAIT
        while True:
            try:
                await session.connection()  # BEGIN IMMEDIATE, on a new connection its pragmas
                return
            except DBAPIError as error:
                if not _busy(error) or loop.time() + pause > deadline:
                    raise
            await session.rollback()  # the connection goes back to the pool for readers
            if pause == LOCK_FIRST_WAIT:
                self.lock_waits += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, LOCK_MAX_WAIT)

    async def checkpoint_in_background(
        self, every: float = CHECKPOINT_SECONDS, size: int = CHECKPOINT_BYTES
    ) -> None:
        """Copy the WAL back into the database file on a worker thread, until cancelled.

        Meanwhile no commit of this store checkpoints: SQLite's own checkpoint runs inside the
        commit that fills the WAL, on the loop's thread (a 1000-page copy and two fsyncs). A
        running bot opts in; commands keep SQLite's. Any number of processes may run this at
        once: a passive checkpoint neither waits for nor blocks another process (this one's
        writers pause for the short second pass, see `_checkpoint`).
        """
        if self.file is None:
            return
        self._autocheckpoint = 0  # each connection takes it at its next checkout
        wal = f"{self.file}-wal"
        # One connection for every pass, opened, used and closed on a thread of its own:
        # opening one per pass cost more than the copy, and a pass still running when this
        # task is cancelled (the bot stopping) must finish before the connection is closed —
        # closing it under a running statement crashed the process.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        connection: sqlite3.Connection | None = None
        try:
            while True:
                await asyncio.sleep(every)
                # Copied when there is as much as SQLite's own checkpoint would copy: a stat
                # of the file is all a quiet moment costs.
                if _size(wal) < max(size, 1):
                    continue
                try:
                    if connection is None:
                        connection = await _on(thread, _checkpoint_connection, self.file)
                    self.last_checkpoint = await _checkpoint(self.file, connection, thread)
                except sqlite3.Error as error:
                    log.warning("checkpoint failed: %s; trying again", error)
        finally:
            self._autocheckpoint = SQLITE_AUTOCHECKPOINT
            if connection is not None:
                thread.submit(connection.close)
            thread.shutdown(wait=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _busy(error: DBAPIError) -> bool:
    """Tell whether SQLite refused because another connection holds a lock."""
    code = getattr(error.orig, "sqlite_errorcode", 0)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


async def _on(thread: Executor, call: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(thread, call, *args)


async def _checkpoint(
    file: str, connection: sqlite3.Connection, thread: Executor
) -> tuple[int, int, int]:
    """Copy the WAL back while writers go on, then what they added meanwhile."""
    await _on(thread, _checkpoint_pass, connection)
    # SQLite starts the WAL over at the first write transaction to begin after a checkpoint
    # copied all of it; under steady writes one is always under way, and the WAL would grow
    # without end (measured: 10 times SQLite's own size). So this process's writers wait (on
    # the loop, which goes on) for a second pass, which copies only the frames added during
    # the first.
    async with _write_lock(file):
        return await _on(thread, _checkpoint_pass, connection)


def _size(path: str) -> int:
    """A file's size, 0 when there is none; a stat, cheap enough for the loop's thread."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _checkpoint_connection(path: str) -> sqlite3.Connection:
    # On a worker thread waiting blocks nobody (a passive checkpoint itself never waits).
    return sqlite3.connect(
        path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
    )


def _checkpoint_pass(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """Run a passive checkpoint; return SQLite's answer."""
    busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(frames), int(copied)


# Writers of this process on one SQLite file queue here, across every Store on that file (keyed
# on its real path: a Store opened through a symlink is on the same file): among themselves
# they wait without polling SQLite, and hand the lock on as soon as it is released.
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(path: str) -> asyncio.Lock:
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path, asyncio.Lock())


def _configure_sqlite(engine: AsyncEngine, autocheckpoint: Callable[[], int]) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        if dbapi_connection.isolation_level is not None:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_STATEMENT_BUSY_MS}")
        # A database already in WAL mode answers this without any lock. Only turning a file
        # from another journal mode into WAL needs the exclusive lock: refused while another
        # process writes, the connection fails, and a writer tries again (`Store.write`).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint()}")
        cursor.close()
        record.info[_AUTOCHECKPOINT] = autocheckpoint()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Pooled connections follow a change of mind (`checkpoint_in_background`) at next use.
        wanted = autocheckpoint()
        if record.info.get(_AUTOCHECKPOINT) != wanted:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={wanted}")
            cursor.close()
            record.info[_AUTOCHECKPOINT] = wanted

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if not options.get("linzhang_write", False):
            # Readers in WAL mode take no lock that a writer holds. SQLite refuses one only
            # while another connection holds the file exclusively: recovering the WAL after
            # a crash, changing the journal mode, or the last connection closing the file.
            # Those last milliseconds, so a reader waits out the short busy timeout and, if
            # still refused, fails: it cannot be retried here (its first statement runs later,
            # inside its caller's block), and the runtime's loops (the worker, the led jobs)
            # log a failure and try again.
            connection.exec_driver_sql("BEGIN")
        elif options.get("linzhang_retry", False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            _begin_patiently(connection)


def _begin_patiently(connection: Connection) -> None:
    """Take the write lock at BEGIN inside SQLite, for a writer that does not retry BEGIN."""
    # Migrations (`models.migrate`) begin on the engine, not through `Store.write`; they run
    # in commands, whose loop has nothing else to do, and keep waiting as long as ever.
    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_STATEMENT_BUSY_MS}")
