"""The worker: handle stored updates in batches; effects and "handled" commit together."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import pick_language, t
from bot.transport import Transport
from handlers.context import Context
from handlers.events import Incoming, Reply
from handlers.outgoing import enqueue
from handlers.router import handle
from models.inbox import InboxUpdate, mark_handled, pending_updates
from models.store import Store

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
            failed: dict[int, str] = {}
            for row in rows:
                if isolated:
                    if error := await self._isolated(session, row):
                        failed[row.id] = error
                    continue
                try:
                    await self._one(session, row)
                except Exception as error:
                    raise _UpdateFailed from error
            # One statement marks the batch; the failures keep why they failed.
            await mark_handled(session, [row.id for row in rows if row.id not in failed])
            for row_id, why in failed.items():
                await mark_handled(session, [row_id], why)
        return len(rows)

    async def _one(self, session: AsyncSession, row: InboxUpdate) -> None:
        event = self.transport.to_event(row.payload)
        if event is not None:
            replies = await handle(session, event, self.ctx)
            await enqueue(session, replies, event.user_id)

    async def _isolated(self, session: AsyncSession, row: InboxUpdate) -> str | None:
        """Handle one update in a savepoint; return why it failed, if it did."""
        try:
            async with session.begin_nested():
                await self._one(session, row)
        except Exception as error:
            log.exception("update %s failed", row.update_id)
            await self._apologise(session, row)
            return type(error).__name__
        return None

    async def _apologise(self, session: AsyncSession, row: InboxUpdate) -> None:
        """Tell the person, in their language, that what they did could not be done."""
        try:
            event: Incoming | None = self.transport.to_event(row.payload)
        except Exception:
            return  # not even readable: nobody to answer
        if event is None:
            return
        language = pick_language(None, event.language_code, self.ctx.default_language)
        apology = Reply(event.chat_id, t("chat.sorry", language), is_group=event.in_group)
        await enqueue(session, [apology], event.user_id)
