"""The outbox sender: deliver under Telegram's limits, in order per chat, each message once.

Several calls are in flight at once (a window), at most one per chat so that order within a
chat holds, each started only when every limit allows it: a Bot API call takes a network round
trip, and one at a time the sender would reach a third of Telegram's cap. Answers to a
person's own action go before every push that waits. Of several waiting edits of one message
only the newest goes out. A call that never answers is given up after a deadline and, since
it may have been delivered, tried once more, on record. A chat that refuses for good (the bot
was blocked, removed from the group) fails with all its waiting messages at once.

After a crash at most the calls in flight (the window) are sent again: each outcome is written
to the journal (SQLite) or the database (PostgreSQL) as its call completes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import SENDS
from bot.outbox_journal import OutboxJournal, Outcome
from bot.transport import Migrated, Permanent, RetryAfter, Transient, Transport
from handlers.delivery import undelivered
from handlers.outgoing import enqueue
from models.base import utcnow
from models.building_chat import migrate_group
from models.outbox import (
    CALLBACK_ANSWER,
    Due,
    OutboxMessage,
    fail_chat,
    forget_secrets,
    newest_edit,
    next_per_chat,
    sent_message_id,
    supersede,
)
from models.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
# How many waiting messages are read at once; read again when new ones arrive or these run out.
READ = 200
# Read again at least this often while sending: a chat whose message just went may have more.
REREAD_SECONDS = 0.2
IDLE_SECONDS = 1.0
ANSWERS_IN_FLIGHT = 256


@dataclass(frozen=True)
class SendLimits:
    overall_per_second: float = 30.0
    group_per_minute: int = 20
    chat_per_second: float = 1.0
    # Calls in flight at once: 30 a second at a 300 ms round trip needs 9; some spare for jitter.
    in_flight: int = 16
    # Answers to presses in flight at once, beside those: Telegram does not count them against
    # the cap, and an election's 600 presses a second at a 300 ms round trip need 180 (with 64,
    # measured: 198 answered a second at 300 ms, 540 at 100 ms; bench/election.py --rtt).
    answers_in_flight: int = ANSWERS_IN_FLIGHT
    # Seconds a call may take; past it the outcome is unknown (it may have been delivered).
    deadline: float = 10.0
    # Telegram counts a call when it arrives, a network's delay after it was started here; the
    # windows counted at the start are this much longer, so that delays that vary by up to it
    # cannot bunch arrivals past a limit.
    margin: float = 0.04


class Pacer:
    """Tell when a chat may next be sent to, under the overall, group and chat limits.

    Sends are counted when they start: with several in flight, counting at the answer would
    let the window start more than the limit. Overall they are spaced evenly.
    """

    def __init__(self, limits: SendLimits) -> None:
        self.limits = limits
        self._overall: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._group: dict[int, deque[float]] = defaultdict(deque)
        self._chat_hold: dict[int, float] = {}
        self._interval = (1.0 + limits.margin) / max(1.0, limits.overall_per_second)
        # When the next evenly spaced send is due.
        self._slot = 0.0

    def ready_at(self, chat_id: int, is_group: bool, now: float) -> float:
        """Return the earliest moment a message into this chat respects every limit."""
        return max(self.overall_at(now), self.chat_at(chat_id, is_group, now))

    def overall_at(self, now: float) -> float:
        """Return the earliest moment any message respects the overall limit."""
        margin = self.limits.margin
        overall = self._overall
        cap = max(1, int(self.limits.overall_per_second))
        while overall and overall[0] <= now - 1.0 - margin:
            overall.popleft()
        # Evenly spaced, not a second's worth at once: an answer that comes while pushes go
        # waits for the next slot (a thirtieth of a second), not for the window to empty, and
        # arrivals stay spread out whatever the network does to them. A slot is kept for one
        # interval (GCRA), so a send that starts a little late is not a slot lost.
        at = max(now, self._slot - self._interval)
        if len(overall) >= cap:
            at = max(at, overall[-cap] + 1.0 + margin)
        return at

    def chat_at(self, chat_id: int, is_group: bool, now: float) -> float:
        """Return the earliest moment a message into this chat respects the chat's limits."""
        margin = self.limits.margin
        at = max(now, self._chat_hold.get(chat_id, 0.0))
        last = self._chat_last.get(chat_id)
        if last is not None:
            at = max(at, last + 1.0 / self.limits.chat_per_second + margin)
        if is_group:
            recent = self._group[chat_id]
            while recent and recent[0] <= now - 60.0 - margin:
                recent.popleft()
            if len(recent) >= self.limits.group_per_minute:
                at = max(at, recent[-self.limits.group_per_minute] + 60.0 + margin)
        return at

    def record(self, chat_id: int, is_group: bool, at: float) -> None:
        self._slot = max(self._slot, at) + self._interval
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
        self.limits = limits
        self.pacer = Pacer(limits)
        # Set when new messages may be waiting (the worker committed answers, a job notices).
        self.wake = asyncio.Event()
        self._landed = asyncio.Event()  # a call in flight finished
        self._stop = asyncio.Event()
        # Without a journal each outcome is marked in its own transaction.
        self.journal = journal
        # For words to a notice's author who never chose a language.
        self.language = language
        self._flying: dict[int, asyncio.Task[None]] = {}
        # The answers among them: they have their own window.
        self._answers_flying: set[int] = set()
        self._chats_flying: set[int] = set()
        self._waiting: list[Due] = []
        self._read_at = 0.0
        # The message each edit key names, by chat: learnt as first sends come back.
        self._edited: dict[tuple[int, str], int] = {}
        # Secret messages sent whose words are blanked when their mark is written.
        self._secrets: set[int] = set()
        # The journal's marks being written beside the sends, and one writing at a time.
        self._marking: asyncio.Task[None] | None = None
        self._applying = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until told to stop; sleep until woken, a call lands or a limit frees a chat."""
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    pause = await self.send_some()
                except Exception:
                    log.exception("outbox round failed; retrying")
                    pause = 1.0
                await self._rest(pause)
        finally:
            # The calls in flight are let finish (and recorded), not cut off mid-call.
            await self.land()
            if self._marking is not None:
                await asyncio.gather(self._marking, return_exceptions=True)
            await self.apply_journal()

    async def land(self) -> None:
        """Wait for every call in flight to finish and be recorded."""
        if self._flying:
            await asyncio.gather(*self._flying.values(), return_exceptions=True)

    async def send_some(self) -> float:
        """Start every call the window and the limits allow now; return how long until another
        could start (0: look again at once)."""
        journaled = self._journaled()
        if len(journaled) >= READ and self._marking is None:
            # Beside the sends, not before the next: its transaction waits its turn for the
            # database's write lock (a worker's batch may hold it), and on election day the
            # answers read next would wait with it.
            self._marking = asyncio.create_task(self._mark_journal(), name="outbox marks")
        now = time.monotonic()
        # Each chat's first message is read afresh at most every REREAD_SECONDS, even when
        # the list read last has all gone: on election day a few thousand pushes wait out
        # their groups' limits, and each read costs milliseconds the presses behind it wait.
        full = now - self._read_at >= REREAD_SECONDS
        if full:
            self.wake.clear()
            self._waiting = await self._due(self._journaled(), set(self._flying))
            self._read_at = now
        elif self.wake.is_set():
            # Woken between full reads (the worker committed a batch): its answers to presses
            # go at once; anything else it wrote waits for the next full read, at most
            # REREAD_SECONDS on. Finding each chat's first message costs more the more pushes
            # wait, and on election day thousands wait out their groups' limits.
            self.wake.clear()
            answers = await self._due(self._journaled(), set(self._flying), pushes=False)
            self._waiting = answers + [m for m in self._waiting if m.method != CALLBACK_ANSWER]
        if not self._waiting:
            if not self._flying:
                await self.apply_journal()  # nothing to do: the marks may go in now
            if not full:
                return max(0.0, self._read_at + REREAD_SECONDS - time.monotonic())
            return IDLE_SECONDS
        soonest = float("inf")
        # One moment for the whole pass: were the clock read per message, a push further down
        # the list could take the slot an answer ahead of it was a moment short of.
        now = time.monotonic()
        # The overall limit is the same for every push: once it says wait, only answers to
        # button presses can go this pass, and no push's own limits need asking (a pass used
        # to ask them of every waiting message to start one).
        overall = self.pacer.overall_at(now)
        for message in list(self._waiting):
            if self._full() or self._stop.is_set():
                break
            answer = message.method == CALLBACK_ANSWER
            if answer:
                if len(self._answers_flying) >= self.limits.answers_in_flight:
                    continue
            elif message.chat_id in self._chats_flying:
                continue
            # The answers to presses come first in the list (`next_per_chat`): below a push
            # only pushes wait, and the same window or overall limit holds them all. A pass
            # used to walk the whole list for every push it started.
            elif self._pushes_full():
                break
            elif overall > now:
                soonest = min(soonest, overall)
                break
            at = self._ready_at(message, now)
            if at > now:
                soonest = min(soonest, at)
                continue
            self._waiting.remove(message)
            self._start(message)
            if not answer:
                overall = self.pacer.overall_at(now)
        if self._full():
            return REREAD_SECONDS  # until a call lands
        return min(REREAD_SECONDS, max(0.0, soonest - time.monotonic()))

    def _pushes_full(self) -> bool:
        return len(self._flying) - len(self._answers_flying) >= self.limits.in_flight

    def _full(self) -> bool:
        """Both windows full: nothing can start until a call lands."""
        answers = len(self._answers_flying) >= self.limits.answers_in_flight
        return answers and self._pushes_full()

    async def _rest(self, pause: float) -> None:
        if pause <= 0 or self.wake.is_set():
            return
        self._landed.clear()
        waits = [
            asyncio.ensure_future(self.wake.wait()),
            asyncio.ensure_future(self._landed.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _start(self, message: Due) -> None:
        self._record(message)
        # A button press's answer is no message in its chat: the chat's order is not its.
        lane = message.method != CALLBACK_ANSWER
        if lane:
            self._chats_flying.add(message.chat_id)
        else:
            self._answers_flying.add(message.id)
        task = asyncio.create_task(self._deliver(message), name=f"send {message.id}")
        self._flying[message.id] = task

        def landed(_: asyncio.Task[None]) -> None:
            self._flying.pop(message.id, None)
            self._answers_flying.discard(message.id)
            if lane:
                self._chats_flying.discard(message.chat_id)
            self._landed.set()

        task.add_done_callback(landed)

    async def _due(self, sent: set[int], flying: set[int], pushes: bool = True) -> list[Due]:
        async with self.store.read() as session:
            return await next_per_chat(session, READ, utcnow(), sent, flying, pushes=pushes)

    def _journaled(self) -> set[int]:
        """The messages sent whose marks are only in the journal so far."""
        return set() if self.journal is None else self.journal.ids

    async def _deliver(self, message: Due) -> None:
        """Make one call and record how it went."""
        try:
            message, method, params = await self._call_for(message)
            async with asyncio.timeout(self.limits.deadline):
                result = await self.transport.call(method, params)
        except TimeoutError:
            SENDS.labels(message.method, "unknown").inc()
            await self._unknown(message)
            return
        except RetryAfter as error:
            SENDS.labels(message.method, "retry_after").inc()
            self.pacer.hold(message.chat_id, time.monotonic() + error.seconds)
            await self._retry(message.id, error.seconds, str(error))
            return
        except Transient as error:
            # One line, the same for every failure alike, so repeats can be counted.
            log.warning("%s failed: %s; retrying", message.method, error)
            SENDS.labels(message.method, "transient").inc()
            await self._retry(message.id, _backoff(message.attempts), f"transient: {error}")
            return
        except Migrated as error:
            SENDS.labels(message.method, "migrated").inc()
            await self._migrated(message, error.new_chat_id)
            return
        except Permanent as error:
            log.warning("chat %s refuses messages for good: %s", message.chat_id, error)
            SENDS.labels(message.method, "permanent").inc()
            await self._failed(message, str(error))
            return
        except Exception as error:
            # Not a failure the adapter knows: retried like a transient one, so one message
            # cannot stop the others.
            log.exception("%s raised; retrying", message.method)
            SENDS.labels(message.method, "error").inc()
            await self._retry(message.id, _backoff(message.attempts), type(error).__name__)
            return
        SENDS.labels(method, "sent").inc()
        message_id = getattr(result, "message_id", None)
        if message_id is None and isinstance(result, dict):
            message_id = result.get("message_id")
        if message.edit_key is not None and message_id is not None:
            self._edited[(message.chat_id, message.edit_key)] = int(message_id)
        if message.secret:
            self._secrets.add(message.id)
        await self._finished(Outcome(message.id, utcnow(), message_id=message_id))

    async def _call_for(self, message: Due) -> tuple[Due, str, dict[str, Any]]:
        """The call to make for a message; for one the bot keeps editing, the newest version
        waiting (the older ones are marked as gone out in it), as an edit once it exists."""
        if message.edit_key is None:
            return message, message.method, message.params
        key = (message.chat_id, message.edit_key)
        async with self.store.read() as session:
            newest = await newest_edit(session, message)
            if key not in self._edited:
                found = await sent_message_id(session, message.chat_id, message.edit_key)
                if found is not None:
                    self._edited[key] = found
        if newest.id != message.id:
            # A newer version supersedes the waiting one as it is written; only versions
            # written before that rule (or this one, read just before) can still wait.
            async with self.store.write() as session:
                await supersede(session, newest, utcnow())
        if key not in self._edited:
            return newest, "sendMessage", newest.params
        params = {**newest.params, "message_id": self._edited[key]}
        return newest, "editMessageText", params

    async def apply_journal(self) -> None:
        """Mark what the journal holds in one transaction, then empty it."""
        async with self._applying:
            if self.journal is None or not self.journal.pending:
                return
            pending = list(self.journal.pending)
            async with self.store.write() as session:
                await session.execute(update(OutboxMessage), [_marks(o) for o in pending])
                await self._forget([o.outbox_id for o in pending], session)
            self.journal.forget(pending)

    async def _mark_journal(self) -> None:
        try:
            await self.apply_journal()
        except Exception:
            # Kept in the journal: marked with the next ones.
            log.exception("marking the outbox failed; trying again with the next marks")
        finally:
            self._marking = None

    async def _finished(self, outcome: Outcome) -> None:
        """Record a send that is over, so a crash can repeat at most the calls in flight."""
        if self.journal is not None:
            self.journal.record(outcome)
            return
        async with self.store.write() as session:
            await session.execute(update(OutboxMessage), [_marks(outcome)])
            await self._forget([outcome.outbox_id], session)

    async def _forget(self, ids: list[int], session: AsyncSession) -> None:
        """Blank the words of the secret ones among messages just marked sent."""
        secret = self._secrets.intersection(ids)
        if secret:
            await forget_secrets(session, secret)
            self._secrets -= secret

    def _ready_at(self, message: Due, now: float) -> float:
        """When a message may go as far as its chat goes (the overall limit is asked once a
        pass): pushes wait for the chat's limits; answers go first in line."""
        if message.method == CALLBACK_ANSWER:
            return max(now, self.pacer.held_until(message.chat_id))
        return self.pacer.chat_at(message.chat_id, message.is_group, now)

    def _record(self, message: Due) -> None:
        if message.method == CALLBACK_ANSWER:
            return  # not a message in the chat; Telegram does not count it
        self.pacer.record(message.chat_id, message.is_group, time.monotonic())

    async def _failed(self, message: Due, error: str) -> None:
        """A chat refuses for good: fail everything waiting for it at once, and tell whoever's
        action caused each notice, once each."""
        async with self.store.write() as session:
            causes = await fail_chat(session, message.chat_id, error, utcnow())
            authors = {c for c in causes if c is not None and c != message.chat_id}
            for author in sorted(authors):
                notice = await undelivered(session, author, message.chat_id, error, self.language)
                enqueue(session, [notice], None)

    async def _unknown(self, message: Due) -> None:
        """No answer within the deadline: the message may have gone. Tried once more, on
        record; the second time it counts as failed, and nobody is sent it a third time."""
        log.warning(
            "%s to chat %s: no answer in %s s",
            message.method,
            message.chat_id,
            self.limits.deadline,
        )
        values: dict[str, Any] = {"unknown_outcomes": OutboxMessage.unknown_outcomes + 1}
        if message.unknown_outcomes >= 1:
            values.update(failed_at=utcnow(), error="no answer twice; outcome unknown")
        else:
            values.update(
                attempts=OutboxMessage.attempts + 1,
                not_before=utcnow(),
                error="no answer; outcome unknown",
            )
        async with self.store.write() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values)
            )

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
