"""The worker: handle stored updates in batches; effects and "handled" commit together.

A batch goes in four steps:
1. read the oldest pending updates (a short read transaction) and translate them;
2. ask the chat platform what their handlers will need to know (is this person an admin of
   that group?) — before any write transaction, so no network call holds the database;
3. in one write transaction: claim the updates still unhandled, read for all of them at once
   what nearly every one asks first (a `Batch`), handle each — with one flush for all their
   ORM changes unless a person's second update needs to see the first's — write the rows they
   added (audit, buttons, outbox: one INSERT per table), mark them handled;
4. when anything in step 3 fails — a handler, or a row the database refuses — run the batch
   again with a savepoint per update, each update writing its own rows inside it: the update
   that fails is rolled back alone, its sender gets an apology, the others commit.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import HANDLE_SECONDS, UPDATES
from bot.transport import Transport
from handlers.batch import Batch, ChatAdmins, Later
from handlers.context import ChatApi, Context
from handlers.events import Incoming, Reply
from handlers.flow import Ask
from handlers.outgoing import enqueue
from handlers.router import Router
from models.inbox import Pending, claim_updates, mark_handled, pending_updates
from models.rows import rows_of
from models.store import Store
from texts import pick_language, t

log = logging.getLogger(__name__)

# One commit per batch, not per update: the commit is what costs on SQLite.
BATCH = 200
# How long the platform gets to say who administers a group, before the answer is "unknown".
ASK_SECONDS = 5.0

Event = Incoming | Exception | None


def _in_chat_order(
    pending: list[Pending], events: list[Event], claimed: set[int]
) -> list[tuple[Pending, Event]]:
    """The claimed updates this worker may handle now: none whose chat has an earlier update
    another worker holds, so one chat's updates are handled in order and never two at once.

    Every update still waiting when the batch was read, and earlier than any of it, is in it
    (updates are read oldest first and never return to waiting), so the batch alone tells.
    """
    elsewhere: set[int] = set()
    mine = []
    for row, event in zip(pending, events, strict=True):
        chat = event.chat_id if isinstance(event, Incoming) else None
        if row.id not in claimed:
            if chat is not None:
                elsewhere.add(chat)
        elif chat is None or chat not in elsewhere:
            mine.append((row, event))
    return mine


def _people(event: Event) -> set[int]:
    """Whose update this is: the sender, and anyone it says joined a group."""
    if not isinstance(event, Incoming):
        return set()
    return {event.user_id, *(member.user_id for member in event.joined)}


class _UpdateFailed(Exception):
    """Something in the batch failed: it is rolled back and handled again update by update."""


class Worker:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        ctx: Context,
        sent: asyncio.Event,
        router: Router | None = None,
        chat: ChatApi | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.ctx = ctx
        self.router = router or Router()
        self.chat: ChatApi = chat or transport
        self.arrived = asyncio.Event()
        self._sent = sent
        self._working: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Handle updates until told to stop, waking as soon as new ones arrive."""
        try:
            await self._run(stop)
        finally:
            await self.finish_later()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.arrived.clear()
            try:
                found = await self.run_once()
            except Exception:
                log.exception("inbox batch failed; retrying")
                found = 0
                await asyncio.sleep(1)
            if found == 0:
                try:
                    async with asyncio.timeout(1.0):
                        await self.arrived.wait()
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Handle one batch of stored updates; return how many were found waiting."""
        async with self.store.read() as session:
            pending = await pending_updates(session, BATCH)
        if not pending:
            return 0
        events = [self._read(row) for row in pending]
        admins = await self._ask(events)
        # Handlers almost never fail, so a batch first runs without a savepoint per update;
        # if anything fails, it runs again with savepoints, so one update cannot sink the rest.
        try:
            handled = await self._batch(pending, events, admins, isolated=False)
        except _UpdateFailed:
            handled = await self._batch(pending, events, admins, isolated=True)
        if handled:
            self._sent.set()  # the answers are committed: send them now
        else:
            # Another worker holds them all (PostgreSQL): let it finish before looking again.
            await asyncio.sleep(0.05)
        return len(pending)

    async def _batch(
        self, pending: list[Pending], events: list[Event], admins: ChatAdmins, *, isolated: bool
    ) -> int:
        async with self.store.write() as session:
            claimed = await claim_updates(
                session, [row.id for row in pending], lock=not self.store.sqlite
            )
            todo = _in_chat_order(pending, events, claimed)
            batch = Batch(session, admins, self.ctx.today())
            incoming = [event for _, event in todo if isinstance(event, Incoming)]
            await batch.prefetch(incoming)
            await self.router.prefetch(batch, incoming)
            failed: dict[int, str] = {}
            served: set[int] = set()
            # One flush for the batch's writes, not one per update (each cost more than the
            # update's own statements), except before an update of someone the batch has
            # already served: a person's own updates see each other, in order; different
            # people's updates in one batch are handled as if at once, as parallel workers
            # would handle them. A write that collides only at the end (the same row twice)
            # sends the batch to the savepoint run below, where every update is flushed alone.
            with session.no_autoflush:
                for row, event in todo:
                    if isolated:
                        if why := await self._isolated(session, batch, row, event):
                            failed[row.id] = why
                        continue
                    try:
                        people = _people(event)
                        if people & served:
                            await session.flush()
                        served |= people
                        await self._one(session, batch, event)
                    except Exception as error:
                        raise _UpdateFailed from error
            try:
                # What the handlers left for the end of the batch (an election's turnout, its
                # close), then the batch's rows, one INSERT per table; a failure here is an
                # update's, found again update by update.
                enqueue(session, await self.router.finish(batch, self.ctx), None)
                await rows_of(session).write(session)
            except Exception as error:
                if isolated:
                    raise
                raise _UpdateFailed from error
            forgotten = {
                row.id
                for row, event in todo
                if isinstance(event, Incoming) and event.update_id in batch.forgotten
            }
            handled = [row.id for row, _ in todo if row.id not in failed]
            await mark_handled(session, handled, forget=forgotten)
            for row_id, why in failed.items():
                await mark_handled(session, [row_id], why, forget=forgotten)
        # Counted once committed: a batch run again update by update counts once.
        UPDATES.labels("handled").inc(len(todo) - len(failed))
        if failed:
            UPDATES.labels("failed").inc(len(failed))
        for chat, work in batch.later:
            self._start_later(chat, work)
        return len(todo)

    async def finish_later(self) -> None:
        """Wait for the work handlers left for after their batches."""
        if self._working:
            await asyncio.gather(*self._working, return_exceptions=True)

    def _start_later(self, chat: int, work: Later) -> None:
        """Run work a handler left for after the commit, beside the next batches."""
        task = asyncio.create_task(self._later(chat, work))
        self._working.add(task)
        task.add_done_callback(self._working.discard)

    async def _later(self, chat: int, work: Later) -> None:
        try:
            replies = await work()
            async with self.store.write() as session:
                # Still the answer to what the person asked: it goes before pushes.
                enqueue(session, replies, None, answering=chat)
        except Exception:
            # The answers went out with the batch; only what follows them is lost.
            log.exception("work after a batch failed")
            return
        self._sent.set()

    async def _one(self, session: AsyncSession, batch: Batch, event: Event) -> None:
        """Handle one update; its answers join the transaction's outbox rows."""
        if isinstance(event, Exception):
            raise event
        if event is None:
            return
        started = time.perf_counter()
        replies = await self.router.handle(session, event, self.ctx, batch)
        HANDLE_SECONDS.observe(time.perf_counter() - started)
        enqueue(session, replies, event.user_id, answering=event.chat_id)

    async def _isolated(
        self, session: AsyncSession, batch: Batch, row: Pending, event: Event
    ) -> str | None:
        """Handle one update in a savepoint, writing its own rows there; return why it failed."""
        rows = rows_of(session)
        mark = rows.mark()
        later = len(batch.later)
        try:
            async with session.begin_nested():
                await self._one(session, batch, event)
                enqueue(session, await self.router.finish(batch, self.ctx), None)
                await rows.write(session)
        except Exception as error:
            rows.drop_since(mark)
            del batch.later[later:]
            # What the batch had read may name rows the savepoint took back: read anew.
            batch.forget()
            log.exception("update %s failed", row.update_id)
            if isinstance(event, Incoming):
                enqueue(session, [self._apology(event)], event.user_id, answering=event.chat_id)
            return type(error).__name__
        return None

    def _apology(self, event: Incoming) -> Reply:
        """Tell the person, in their language, that what they did could not be done."""
        language = pick_language(None, event.language_code, self.ctx.default_language)
        return Reply(event.chat_id, t("chat.sorry", language), is_group=event.in_group)

    def _read(self, row: Pending) -> Event:
        """Translate a stored update; a payload the adapter cannot read fails that update."""
        try:
            return self.transport.to_event(row.payload)
        except Exception as error:
            return error

    async def _ask(self, events: list[Event]) -> ChatAdmins:
        """Ask the platform, before the transaction, what the batch's handlers need to know."""
        wanted = {
            (event.chat_id, event.user_id)
            for event in events
            if isinstance(event, Incoming) and Ask.CHAT_ADMIN in self._asks(event)
        }
        answers: dict[tuple[int, int], bool | None] = {}
        for chat_id, user_id in wanted:
            try:
                async with asyncio.timeout(ASK_SECONDS):
                    answers[(chat_id, user_id)] = await self.chat.is_chat_admin(chat_id, user_id)
            except Exception as error:
                log.warning("could not ask who administers chat %s: %s", chat_id, error)
                answers[(chat_id, user_id)] = None
        return answers

    def _asks(self, event: Incoming) -> frozenset[Ask]:
        command = self.router.commands.get(event.command or "")
        return command.asks if command is not None and not event.forwarded else frozenset()
