"""Running the outbox sender, or a whole bot in a process of its own, for tests."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import IO

from sqlalchemy import select

from bot.sender import Sender
from models.outbox import OutboxMessage
from models.store import Store


async def drain(sender: Sender, store: Store, timeout: float = 30.0) -> list[OutboxMessage]:
    """Run a sender until no message waits, then stop it; return every outbox row."""
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        async with asyncio.timeout(timeout):
            # A count each time, not every row: reading a thousand rows would stall the loop
            # the sender shares with the test, and its calls with it.
            while await _waiting(store, sender):
                sender.wake.set()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        sender.wake.set()
        await task  # a stopping sender marks what its journal holds
    async with store.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def _waiting(store: Store, sender: Sender) -> int:
    """Messages not yet sent, failed or superseded; those only in the journal count as sent."""
    async with store.read() as session:
        pending = await session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.superseded_at.is_(None),
            )
        )
        journaled = sender.journal.ids if sender.journal is not None else set()
        return len(set(pending) - journaled)


async def bot_process(
    env: dict[str, str], stderr: IO[str] | int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """Start `linzhang run` in a process of its own, with these settings."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
    )
