"""One process of a deployment does each singular job: polling, sending, scheduling.

Several bot processes may serve one database (webhook mode behind a load balancer, or a restart
that overlaps the old process). Handling updates is safe in any number of them; polling
(Telegram refuses two getUpdates at once), the outbox sender (order per chat, one send each) and
the scheduled jobs are not, so each is led by whoever holds its lock: a PostgreSQL advisory
lock on a connection kept open for it, or an exclusive lock on a file beside a SQLite database.
A leader that dies releases the lock with its connection or its process.

The lock file is named after the database file itself, not after the path a process was given:
two processes reaching one file through a symlink and its real path both led, and every answer
went out twice.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from models.store import Store


class Leader:
    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self._key = zlib.crc32(f"linzhang:{name}".encode())
        self._connection: AsyncConnection | None = None
        self._file: int | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never wait for it."""
        if self.held:
            return True
        if self.store.sqlite:
            return self._try_file()
        connection = await self.store.engine.connect()
        taken = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
        )
        await connection.commit()
        if taken:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def watch(self, every: float) -> None:
        """Return when the lead is lost: the connection holding the lock no longer answers.

        PostgreSQL drops an advisory lock with its session; a leader whose connection was cut
        (a restart, a proxy, pg_terminate_backend) would lead on, beside the next one.
        """
        if self._file is not None:
            # A file lock lasts as long as this process: nothing to lose.
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(every)
            if self._connection is None:
                return
            try:
                async with asyncio.timeout(every):
                    await self._connection.execute(text("SELECT 1"))
                    await self._connection.commit()
            except Exception:
                return

    async def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
                await connection.close()
            except Exception:
                # The connection is gone, and the lock with it.
                await connection.invalidate()
        if self._file is not None:
            descriptor, self._file = self._file, None
            os.close(descriptor)  # closing drops the flock

    def _try_file(self) -> bool:
        home = database_file(self.store)
        path = Path(f"{home or self.store.path or 'memory'}.{self.name}.lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._file = descriptor
        return True

    async def __aenter__(self) -> Leader:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.release()


def database_file(store: Store) -> Path | None:
    """The SQLite file itself, however the URL named it; None for a server or in memory.

    Symlinks and relative paths are resolved, as SQLite resolves them to name its -wal and
    -shm files: the lock and the outbox journal sit beside the file every process shares.
    Hard links are the one name this cannot see through, and need not: SQLite keys its WAL on
    the path too, so two processes opening one file by two hard links already use two WALs and
    corrupt the database (sqlite.org/howtocorrupt.html, "multiple links to the same file").
    The lock is not taken on the database file itself: closing any descriptor of that file
    drops every POSIX lock the process holds on it, SQLite's own included.
    """
    return Path(store.file) if store.file is not None else None
