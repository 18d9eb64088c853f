"""The outbox sender: deliver under Telegram's limits, in order per chat, each message once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from bot.outbox_journal import OutboxJournal, Outcome
from bot.transport import Migrated, Permanent, RetryAfter, Transient, Transport
from handlers.delivery import undelivered
from handlers.outgoing import enqueue
from models.base import utcnow
from models.building_chat import migrate_group
from models.outbox import Due, OutboxMessage, next_per_chat
from models.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class SendLimits:
    overall_per_second: float = 30.0
    group_per_minute: int = 20
    chat_per_second: float = 1.0


class Pacer:
    """Tell when a chat may next be sent to, under the overall, group and chat limits."""

    def __init__(self, limits: SendLimits) -> None:
        self.limits = limits
        self._overall: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._group: dict[int, deque[float]] = defaultdict(deque)
        self._chat_hold: dict[int, float] = {}

    def ready_at(self, chat_id: int, is_group: bool, now: float) -> float:
        """Return the earliest moment a message into this chat respects every limit."""
        times = [now, self._chat_hold.get(chat_id, 0.0)]
        last = self._chat_last.get(chat_id)
        if last is not None:
            times.append(last + 1.0 / self.limits.chat_per_second)
        overall = self._overall
        cap = max(1, int(self.limits.overall_per_second))
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        if len(overall) >= cap:
            times.append(overall[0] + 1.0)
        if is_group:
            recent = self._group[chat_id]
            while recent and recent[0] <= now - 60.0:
                recent.popleft()
            if len(recent) >= self.limits.group_per_minute:
                times.append(recent[0] + 60.0)
        return max(times)

    def record(self, chat_id: int, is_group: bool, at: float) -> None:
        self._overall.append(at)
        self._chat_last[chat_id] = at
        if is_group:
            self._group[chat_id].append(at)

    def held_until(self, chat_id: int) -> float:
        return self._chat_hold.get(chat_id, 0.0)

    def hold(self, chat_id: int, until: float) -> None:
        """Send nothing into a chat before a moment the server named (429 retry_after)."""
        self._chat_hold[chat_id] = max(self._chat_hold.get(chat_id, 0.0), until)


class Sender:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        limits: SendLimits = SendLimits(),
        journal: OutboxJournal | None = None,
        language: str = "zh_CN",
    ) -> None:
        self.store = store
        self.transport = transport
        self.pacer = Pacer(limits)
        self.wake = asyncio.Event()
        self._stop = asyncio.Event()
        # Without a journal each outcome is marked in its own transaction.
        self.journal = journal
        # For words to a notice's author who never chose a language.
        self.language = language

    async def run(self, stop: asyncio.Event) -> None:
        """Send until told to stop; sleep until woken or a limit frees a chat."""
        self._stop = stop
        while not stop.is_set():
            self.wake.clear()
            try:
                pause = await self.send_some()
            except Exception:
                log.exception("outbox round failed; retrying")
                pause = 1.0
            if pause > 0:
                try:
                    async with asyncio.timeout(pause):
                        await self.wake.wait()
                except TimeoutError:
                    pass
        await self.apply_journal()

    async def send_some(self, batch: int = 200) -> float:
        """Send what may be sent now; return how long to wait before looking again."""
        # Marks wait in the journal until the journal is full or nothing is due: the messages
        # it holds count as sent, so the next message of their chat can go without first
        # writing the marks (a write would queue behind the worker's batch).
        sent = self._journaled()
        if len(sent) >= batch:
            await self.apply_journal()
            sent = set()
        due = await self._due(batch, sent)
        if not due and sent:
            await self.apply_journal()
        if not due:
            return 1.0
        now = time.monotonic()
        waiting = [(self._ready_at(m, now), m) for m in due]
        ready = [m for at, m in waiting if at <= now]
        if not ready:
            return min(at for at, _ in waiting) - now
        for message in ready:
            if self._stop.is_set():
                break  # stopping: the message in flight is done, the rest wait for next time
            # Limits may have filled since the list was made; recheck before each send.
            at = self._ready_at(message, time.monotonic())
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._deliver(message)
        return 0.0

    async def _due(self, batch: int, sent: set[int]) -> list[Due]:
        async with self.store.read() as session:
            return await next_per_chat(session, batch, utcnow(), sent)

    def _journaled(self) -> set[int]:
        """The messages sent whose marks are only in the journal so far."""
        if self.journal is None:
            return set()
        return {outcome.outbox_id for outcome in self.journal.pending}

    async def _deliver(self, message: Due) -> None:
        try:
            result = await self.transport.call(message.method, message.params)
        except RetryAfter as error:
            self._record(message)
            self.pacer.hold(message.chat_id, time.monotonic() + error.seconds)
            await self._retry(message.id, error.seconds, str(error))
            return
        except Transient as error:
            self._record(message)
            # One line, the same for every failure alike, so repeats can be counted.
            log.warning("%s failed: %s; retrying", message.method, error)
            await self._retry(message.id, _backoff(message.attempts), f"transient: {error}")
            return
        except Migrated as error:
            await self._migrated(message, error.new_chat_id)
            return
        except Permanent as error:
            self._record(message)
            log.warning(
                "outbox %s to chat %s failed for good: %s", message.id, message.chat_id, error
            )
            await self._failed(message, str(error))
            return
        except Exception as error:
            # Not a failure the adapter knows: retried like a transient one, so one message
            # cannot stop the round for every chat after it.
            self._record(message)
            log.exception("%s raised; retrying", message.method)
            await self._retry(message.id, _backoff(message.attempts), type(error).__name__)
            return
        self._record(message)
        message_id = getattr(result, "message_id", None)
        if message_id is None and isinstance(result, dict):
            message_id = result.get("message_id")
        await self._finished(Outcome(message.id, utcnow(), message_id=message_id))

    async def apply_journal(self) -> None:
        """Mark what the journal holds in one transaction, then empty it."""
        if self.journal is None or not self.journal.pending:
            return
        async with self.store.write() as session:
            await session.execute(update(OutboxMessage), [_marks(o) for o in self.journal.pending])
        self.journal.clear()

    async def _finished(self, outcome: Outcome) -> None:
        """Record a send that is over, so a crash can repeat at most the message in flight."""
        if self.journal is not None:
            self.journal.record(outcome)
            return
        async with self.store.write() as session:
            await session.execute(update(OutboxMessage), [_marks(outcome)])

    def _ready_at(self, message: Due, now: float) -> float:
        """Pace pushes; answer a person's own action at once, unless the server said wait."""
        # An answer goes to the private chat of the person who acted; into a group it is paced.
        if message.method == "answerCallbackQuery" or message.cause_user_id == message.chat_id:
            return max(now, self.pacer.held_until(message.chat_id))
        return self.pacer.ready_at(message.chat_id, message.is_group, now)

    def _record(self, message: Due) -> None:
        if message.method == "answerCallbackQuery":
            return  # not a message in the chat; Telegram does not count it
        # Counted when the answer is back: the server saw the request no later than that, so
        # spacing from this moment keeps its window (measured at arrival) under the limit.
        self.pacer.record(message.chat_id, message.is_group, time.monotonic())

    async def _failed(self, message: Due, error: str) -> None:
        """Record a send that can never succeed; tell the notice's author, if someone was."""
        async with self.store.write() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id)
                .values(failed_at=utcnow(), error=error[:200])
            )
            author = message.cause_user_id
            if author is not None and author != message.chat_id:
                notice = await undelivered(session, author, message.chat_id, error, self.language)
                enqueue(session, [notice], None)

    async def _migrated(self, message: Due, new_chat_id: int) -> None:
        """Follow a group upgraded to a supergroup; the message goes there next round."""
        if new_chat_id == message.chat_id:
            # Nowhere new to go: waited out like a transient failure rather than looped on.
            await self._retry(message.id, _backoff(message.attempts), "migrated to itself")
            return
        async with self.store.write() as session:
            # The binding, the group's requests and every message still pending for it move,
            # this one included: not a failure, nobody is told.
            await migrate_group(session, message.chat_id, new_chat_id, actor="system:sender")
        log.info("chat %s moved to %s; sending there", message.chat_id, new_chat_id)

    async def _retry(self, outbox_id: int, delay: float, error: str) -> None:
        """Put a message back for later; rare enough to commit on its own."""
        values = {
            "attempts": OutboxMessage.attempts + 1,
            "not_before": utcnow() + timedelta(seconds=delay),
            "error": error[:200],
        }
        async with self.store.write() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values)
            )


def _backoff(attempts: int) -> float:
    """How long a message waits after failing this many times before."""
    return min(MAX_BACKOFF, 0.5 * 2.0 ** min(attempts, 10))


def _marks(outcome: Outcome) -> dict[str, object]:
    return {
        "id": outcome.outbox_id,
        "sent_at": outcome.at,
        "message_id": outcome.message_id,
        "error": None,
    }
