"""The worker: handle stored updates in batches; effects and "handled" commit together."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.transport import Transport
from handlers.context import Context
from handlers.events import Incoming, Reply
from handlers.outgoing import add_rows, outbox_rows
from handlers.router import handle, prefetch
from models.inbox import InboxUpdate, mark_handled, pending_updates
from models.pending import flush_when_touched
from models.store import Store
from texts import pick_language, t

log = logging.getLogger(__name__)

# One commit per batch, not per update: the commit is what costs on SQLite.
BATCH = 200


class _UpdateFailed(Exception):
    """A handler raised: the batch is rolled back and handled again update by update."""


class Worker:
    def __init__(
        self, store: Store, transport: Transport, ctx: Context, sent: asyncio.Event
    ) -> None:
        self.store = store
        self.transport = transport
        self.ctx = ctx
        self.arrived = asyncio.Event()
        self._sent = sent

    async def run(self, stop: asyncio.Event) -> None:
        """Handle updates until told to stop, waking as soon as new ones arrive."""
        while not stop.is_set():
            self.arrived.clear()
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("inbox batch failed; retrying")
                handled = 0
                await asyncio.sleep(1)
            if handled == 0:
                try:
                    async with asyncio.timeout(1.0):
                        await self.arrived.wait()
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Handle one batch of stored updates; return how many."""
        # Handlers almost never fail, so a batch first runs without a savepoint per update
        # (two statements and a flush each); if one does fail, the batch is rolled back and
        # run again with savepoints, so that update cannot sink its neighbours.
        try:
            handled = await self._batch(isolated=False)
        except _UpdateFailed:
            handled = await self._batch(isolated=True)
        if handled:
            self._sent.set()  # the answers are committed: send them now
        return handled

    async def _batch(self, *, isolated: bool) -> int:
        async with self.store.write() as session:
            rows = await pending_updates(session, BATCH, lock=not self.store.sqlite)
            # What one update writes is seldom read by the next: written when something
            # reads it, or at the end, a batch's rows for a table go in one statement.
            flush_when_touched(session)
            events = [self._read(row) for row in rows]
            # What nearly every update looks up, fetched for the whole batch at once.
            await prefetch(session, [event for event in events if isinstance(event, Incoming)])
            failed: dict[int, str] = {}
            # The batch's answers, in the order of its updates, written with one statement.
            answers: list[dict[str, Any]] = []
            for row, event in zip(rows, events, strict=True):
                if isolated:
                    if error := await self._isolated(session, row, event, answers):
                        failed[row.id] = error
                    continue
                try:
                    answers += await self._one(session, event)
                except Exception as error:
                    raise _UpdateFailed from error
            if not isolated:
                try:
                    await session.flush()  # a write refused here is an update's failure
                except Exception as error:
                    raise _UpdateFailed from error
            await add_rows(session, answers)
            # One statement marks the batch; the failures keep why they failed.
            await mark_handled(session, [row.id for row in rows if row.id not in failed])
            for row_id, why in failed.items():
                await mark_handled(session, [row_id], why)
        return len(rows)

    def _read(self, row: InboxUpdate) -> Incoming | Exception | None:
        """Translate a stored update; a payload the adapter cannot read fails that update."""
        try:
            return self.transport.to_event(row.payload)
        except Exception as error:
            return error

    async def _one(
        self, session: AsyncSession, event: Incoming | Exception | None
    ) -> list[dict[str, Any]]:
        """Handle one update; return the outbox rows of its answers."""
        if isinstance(event, Exception):
            raise event
        if event is None:
            return []
        return outbox_rows(await handle(session, event, self.ctx), event.user_id)

    async def _isolated(
        self,
        session: AsyncSession,
        row: InboxUpdate,
        event: Incoming | Exception | None,
        answers: list[dict[str, Any]],
    ) -> str | None:
        """Handle one update in a savepoint; return why it failed, if it did."""
        try:
            async with session.begin_nested():
                answers += await self._one(session, event)
        except Exception as error:
            log.exception("update %s failed", row.update_id)
            answers += self._apology(row)
            return type(error).__name__
        return None

    def _apology(self, row: InboxUpdate) -> list[dict[str, Any]]:
        """Tell the person, in their language, that what they did could not be done."""
        try:
            event: Incoming | None = self.transport.to_event(row.payload)
        except Exception:
            return []  # not even readable: nobody to answer
        if event is None:
            return []
        language = pick_language(None, event.language_code, self.ctx.default_language)
        apology = Reply(event.chat_id, t("chat.sorry", language), is_group=event.in_group)
        return outbox_rows([apology], event.user_id)
