"""The outbox sender against a server that enforces Telegram's limits and injects faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.outbox_journal import OutboxJournal, Outcome
from bot.runtime import make_transport
from bot.sandbox.server import BotApiServer, Fault
from bot.sender import READ, Pacer, Sender, SendLimits
from bot.transport import Transport
from handlers.events import Button, Reply
from handlers.outgoing import enqueue
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.person import Person
from models.store import Store
from tests.chat.harness import BOT, TOKEN
from tests.chat.sending import drain

CHATS = (501, 502, 503)
GROUP = -100700
BLOCKED = 504


@pytest.fixture(params=["ptb", "aiogram"])
async def setup(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BotApiServer, Store, Transport]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for chat in (*CHATS, BLOCKED):
        server.add_user(chat, f"user{chat}")
    server.chats[BLOCKED].blocked = True
    server.add_group(GROUP, "楼栋群")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    await upgrade(store)
    transport = make_transport(request.param, TOKEN, url)
    await transport.start()
    yield server, store, transport
    await transport.stop()
    await server.stop()
    await store.dispose()


async def test_all_delivered_in_order_under_limits_and_faults(
    setup: tuple[BotApiServer, Store, Transport],
) -> None:
    server, store, transport = setup
    server.limits.enforce = True
    async with store.write() as session:
        replies = [Reply(chat, f"{chat}-{n}") for n in range(4) for chat in CHATS]
        replies += [Reply(GROUP, f"group-{n}", is_group=True) for n in range(3)]
        replies += [Reply(CHATS[0], "长" * 5000 + "\n" + "尾" * 10, [[Button("OK", "tok")]])]
        replies += [Reply(BLOCKED, "hello"), Reply(999, "nobody")]
        enqueue(session, replies, None)
    # Faults the sender must survive: a 429 from nowhere, a 502, a dropped connection.
    server.faults.extend(
        [Fault("429", "sendMessage"), Fault("5xx", "sendMessage"), Fault("drop", "sendMessage")]
    )
    limits = SendLimits()  # Telegram's: 30/s overall, 20/min into a group, 1/s into a chat
    rows = await drain(Sender(store, transport, limits), store, timeout=90)

    for chat in CHATS:
        texts = [s.text for s in server.sent_to(chat)]
        expected = [f"{chat}-{n}" for n in range(4)]
        if chat == CHATS[0]:
            expected += ["长" * 4096, "长" * (5000 - 4096) + "\n" + "尾" * 10]
        assert texts == expected
    assert [s.text for s in server.sent_to(GROUP)] == [f"group-{n}" for n in range(3)]
    # The long text was cut at Telegram's limit and the buttons rode on its last part.
    assert server.sent_to(CHATS[0])[-1].buttons()[0]["text"] == "OK"
    failed = {r.chat_id: r.error for r in rows if r.failed_at}
    assert set(failed) == {BLOCKED, 999}
    assert "blocked" in (failed[BLOCKED] or "") and "not found" in (failed[999] or "")
    assert all(r.sent_at for r in rows if r.chat_id not in failed)
    # The sender kept to the limits: the server never had to refuse it on its own account.
    assert server.rejected_429 == 0, [a for a in server.responses if a.status == 429]
    # And nothing was sent into a chat before the retry_after the server named for it.
    for refused in (a for a in server.responses if a.status == 429):
        later = [a for a in server.responses if a.chat_id == refused.chat_id and a.at > refused.at]
        assert later and all(a.at >= refused.at + (refused.retry_after or 0) - 0.01 for a in later)


async def test_sent_once_across_restarts(setup: tuple[BotApiServer, Store, Transport]) -> None:
    server, store, transport = setup
    async with store.write() as session:
        enqueue(session, [Reply(chat, f"once {chat}") for chat in CHATS], None)
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)
    await drain(Sender(store, transport, fast), store)
    await drain(Sender(store, transport, fast), store)  # a restarted sender finds nothing to do
    assert sorted(s.text for s in server.sent) == sorted(f"once {chat}" for chat in CHATS)


async def test_a_press_is_answered_while_its_group_waits(
    setup: tuple[BotApiServer, Store, Transport],
) -> None:
    server, store, transport = setup
    async with store.write() as session:
        # Twenty a minute into a group: the third message waits half a minute for its turn.
        enqueue(session, [Reply(GROUP, f"group-{n}", is_group=True) for n in range(3)], None)
    limits = SendLimits(group_per_minute=2)
    stop = asyncio.Event()
    sender = Sender(store, transport, limits)
    running = asyncio.create_task(sender.run(stop))
    try:
        await server.wait_total(2, timeout=30)
        async with store.write() as session:
            enqueue(session, [Reply(GROUP, "已收到", callback_id="press-1")], None)
        sender.wake.set()
        # The toast stops the spinner now, not after the group's queue.
        await server.wait_callback_answers(1, timeout=10)
        assert server.callback_answers[0]["text"] == "已收到"
        assert [s.text for s in server.sent_to(GROUP)] == ["group-0", "group-1"]
    finally:
        stop.set()
        sender.wake.set()
        await running


def test_pacer_keeps_each_limit() -> None:
    limits = SendLimits(overall_per_second=30, group_per_minute=20, chat_per_second=1, margin=0)
    pacer = Pacer(limits)
    for n in range(20):
        at = pacer.ready_at(GROUP, True, n * 1.0)
        assert at == n * 1.0
        pacer.record(GROUP, True, at)
    # The 21st message into the group waits for the first to leave the minute.
    assert pacer.ready_at(GROUP, True, 20.0) == pytest.approx(60.0)
    # One chat: a second message within the second waits.
    pacer.record(CHATS[0], False, 100.0)
    assert pacer.ready_at(CHATS[0], False, 100.2) == pytest.approx(101.0)
    # Overall: thirty in one second fill it.
    for chat in range(30):
        pacer.record(1000 + chat, False, 200.0)
    assert pacer.ready_at(2000, False, 200.5) == pytest.approx(201.0)
    pacer.hold(2000, 205.0)
    assert pacer.ready_at(2000, False, 202.0) == 205.0


async def test_journal_carries_marks_across_a_kill(
    setup: tuple[BotApiServer, Store, Transport], tmp_path: Path
) -> None:
    server, store, transport = setup
    async with store.write() as session:
        enqueue(session, [Reply(chat, f"journal {chat}") for chat in CHATS], None)
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)
    path = tmp_path / "outbox.journal"
    journal = OutboxJournal(path)
    killed = Sender(store, transport, fast, journal)
    await killed.send_some()
    await killed.land()
    journal.close()  # killed: the marks never reached the database
    with path.open("a") as torn:
        torn.write('{"id": 9')  # and the kill tore the line being written
    async with store.read() as session:
        marked = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))
        )
        assert list(marked) == []

    rows = await drain(Sender(store, transport, fast, OutboxJournal(path)), store)

    assert sorted(s.text for s in server.sent) == sorted(f"journal {chat}" for chat in CHATS)
    assert {r.chat_id: r.message_id for r in rows} == {s.chat_id: s.message_id for s in server.sent}
    assert all(r.sent_at for r in rows)
    assert path.read_text() == ""


async def test_a_full_journal_is_marked_beside_the_sends_not_before_them(
    setup: tuple[BotApiServer, Store, Transport], tmp_path: Path
) -> None:
    server, store, transport = setup
    async with store.write() as session:
        enqueue(session, [Reply(CHATS[0], f"sent before {n}") for n in range(READ)], None)
        enqueue(session, [Reply(CHATS[1], "waiting")], None)
    journal = OutboxJournal(tmp_path / "outbox.journal")
    async with store.read() as session:
        done = list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    for outbox_id in done[:READ]:
        journal.record(Outcome(outbox_id, datetime.now(UTC), outbox_id))
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)
    sender = Sender(store, transport, fast, journal)
    # A worker's batch holds the database's write lock: the marks wait for it; the sends don't
    # (before, the round waited for the marks and nothing went until the batch committed).
    async with store.write():
        async with asyncio.timeout(30):
            await sender.send_some()
            await server.wait_total(1)
        assert [s.text for s in server.sent] == ["waiting"]
        await sender.land()
        assert len(journal.pending) == READ + 1  # all still to be marked
    await sender.apply_journal()  # after the marks already being written, the rest
    assert not journal.pending
    async with store.read() as session:
        marked = await session.scalar(
            select(func.count()).where(OutboxMessage.sent_at.is_not(None))
        )
    assert marked == READ + 1


def test_journal_keeps_marks_recorded_while_others_were_written(tmp_path: Path) -> None:
    path = tmp_path / "outbox.journal"
    journal = OutboxJournal(path)
    at = datetime(2026, 12, 3, tzinfo=UTC)
    journal.record(Outcome(1, at, 11))
    journal.record(Outcome(2, at, 12))
    applied = list(journal.pending)
    # A call lands while the first two marks are being written to the database.
    journal.record(Outcome(3, at, 13))
    journal.forget(applied)
    assert journal.ids == {3}
    journal.record(Outcome(4, at, 14))
    journal.close()
    # A restarted sender still counts the two the database does not hold yet as sent.
    assert OutboxJournal(path).ids == {3, 4}


async def test_author_of_an_undeliverable_notice_is_told(
    setup: tuple[BotApiServer, Store, Transport],
) -> None:
    server, store, transport = setup
    author = CHATS[1]
    async with store.write() as session:
        session.add(Person(user_id=BLOCKED, display_name="王阿姨"))
        # A notice the author's action caused, to someone who blocked the bot, and to nobody.
        enqueue(session, [Reply(BLOCKED, "周六大扫除"), Reply(999, "周六大扫除")], author)
    fast = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)
    rows = await drain(Sender(store, transport, fast), store)

    told = [s.text for s in server.sent_to(author)]
    assert len(told) == 2
    assert "王阿姨" in told[0] and "屏蔽" in told[0]
    # Someone the bot knows nothing of is "a resident", never a chat id or Telegram's words.
    assert "999" not in told[1] and "一位居民" in told[1] and "找不到" in told[1]
    assert not any("Forbidden" in text or "chat not found" in text for text in told)
    assert {r.chat_id for r in rows if r.failed_at} == {BLOCKED, 999}
