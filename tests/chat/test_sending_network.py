"""The sender over a network that takes time: several calls in flight, answers first, edits that
coalesce, a call that never answers, a chat that refuses for good."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.runtime import make_transport, settle_garbage_collector
from bot.sandbox.server import BotApiServer, Fault, Latency
from bot.sender import Sender, SendLimits
from bot.transport import Transport
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.migrate import upgrade
from models.outbox import OutboxMessage
from models.store import Store
from tests.chat.harness import BOT, TOKEN
from tests.chat.sending import drain

PUSHED = range(20_001, 20_251)  # 250 chats, four notices each: 1,000 messages
RESIDENT = 30_001
GROUP = -100_900
CAP = 50  # the server's cap and the sender's: Telegram's 30/s, scaled so a test is short


@pytest.fixture(autouse=True)
def settled_collector() -> Iterator[None]:
    """As `linzhang run` does: what the process has built is kept out of the collector, and
    young objects are collected less often.

    A full collection in a process holding both frameworks and a server's records takes over
    100 ms; it would stall the loop the sender shares with the test, bunching calls it paced.
    """
    thresholds = gc.get_threshold()
    settle_garbage_collector()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.fixture(params=["ptb", "aiogram"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BotApiServer, Store, Transport]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for chat in (*PUSHED, RESIDENT):
        server.add_user(chat, f"居民{chat}")
    server.add_group(GROUP, "芙蓉花园1栋业主群")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'sending.db'}")
    await upgrade(store)
    transport = make_transport(request.param, TOKEN, url)
    await transport.start()
    yield server, store, transport
    await transport.stop()
    await server.stop()
    await store.dispose()


def _limits(**given: float) -> SendLimits:
    return SendLimits(
        overall_per_second=CAP,
        chat_per_second=CAP,
        in_flight=16,
        **given,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("rtt", [0.1, 0.3])
async def test_a_push_at_the_cap_with_an_answer_in_the_middle(
    world: tuple[BotApiServer, Store, Transport], rtt: float
) -> None:
    server, store, transport = world
    server.latency = Latency(rtt=rtt, jitter=0.01)
    server.limits.enforce = True
    server.limits.overall_per_second = server.limits.chat_per_second = CAP
    async with store.write() as session:
        for n in range(4):
            enqueue(session, [Reply(chat, f"通知 {chat} 第{n}条") for chat in PUSHED], None)
    sender = Sender(store, transport, _limits())
    sending = asyncio.create_task(drain(sender, store, timeout=120))

    # Midway through the push a resident's own action is answered.
    await server.wait_total(400, timeout=60)
    async with store.write() as session:
        answer = Reply(RESIDENT, "您可以使用这些命令")
        enqueue(session, [answer], RESIDENT, answering=RESIDENT)
    before = len(server.sent)
    sender.wake.set()
    [answered] = await server.wait_sent(RESIDENT, 1, timeout=30)
    rows = await sending

    pushed = [s for s in server.sent if s.chat_id in PUSHED]
    assert len(pushed) == 4 * len(PUSHED), "every notice delivered once"
    for chat in PUSHED:
        texts = [s.text for s in pushed if s.chat_id == chat]
        assert texts == [f"通知 {chat} 第{n}条" for n in range(4)], "in order per chat"
    # The pacing spaces the calls' starts; the server counts their arrivals. On a starved
    # machine (server, sender and framework share this test's loop) a call's own CPU can
    # delay it enough for two to arrive together: a pacer that ignores the cap would be
    # refused hundreds of times here, one that keeps it a handful at most (each then waits
    # out its retry_after).
    assert server.rejected_429 <= len(server.sent) // 250, "our own pacing kept to the cap"
    assert all(row.sent_at for row in rows)
    # The answer overtook every push that waited: only the calls already in flight (and
    # those started before the sender looked again) reached the server before it.
    overtaken = server.sent.index(answered) - before
    assert overtaken <= 16 + CAP * 0.2, overtaken
    assert server.sent.index(answered) < len(server.sent) - 300


async def test_edits_of_one_message_coalesce(world: tuple[BotApiServer, Store, Transport]) -> None:
    server, store, transport = world
    server.latency = Latency(rtt=0.1)
    sender = Sender(store, transport, SendLimits())  # a group: 20 messages a minute
    stop = asyncio.Event()
    sending = asyncio.create_task(sender.run(stop))
    try:
        for n in range(50):
            async with store.write() as session:
                text = f"已投 {n + 1} / 50 户"
                enqueue(session, [Reply(GROUP, text, is_group=True, edit_key="turnout:1")], None)
            sender.wake.set()
            await asyncio.sleep(0.02)
        await server.wait_sent(GROUP, 1, timeout=30)
        async with asyncio.timeout(60):
            while server.sent_to(GROUP)[-1].text != "已投 50 / 50 户":
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        sender.wake.set()
        await sending
    calls = [r for r in server.responses if str(r.chat_id) == str(GROUP)]
    assert len(calls) <= 5, "at most a few of the 50 versions reached the server"
    message_ids = {s.message_id for s in server.sent_to(GROUP)}
    assert len(message_ids) == 1, "one message, edited in place"
    async with store.read() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert all(r.sent_at or r.superseded_at for r in rows)
    assert sum(1 for r in rows if r.superseded_at) >= 45


async def test_a_call_that_never_answers_holds_no_one_else(
    world: tuple[BotApiServer, Store, Transport],
) -> None:
    server, store, transport = world
    stuck, others = PUSHED[0], PUSHED[1:21]
    server.faults.append(Fault("hang", "sendMessage"))
    async with store.write() as session:
        enqueue(session, [Reply(stuck, "会卡住的通知")], None)
        enqueue(session, [Reply(chat, f"通知 {chat}") for chat in others], None)
    sender = Sender(store, transport, _limits(deadline=3.0))
    stop = asyncio.Event()
    sending = asyncio.create_task(sender.run(stop))
    try:
        # Every other chat hears while the stuck call is still unanswered.
        async with asyncio.timeout(30):
            while len({s.chat_id for s in server.sent}) < len(others):
                await asyncio.sleep(0.02)
        assert server.hung and not server.sent_to(stuck)
        async with store.read() as session:
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.chat_id == stuck))
            assert row is not None and row.unknown_outcomes == 0, "still waiting for its answer"
        # Past the deadline the outcome is unknown: tried once more, on record.
        [delivered] = await server.wait_sent(stuck, 1, timeout=30)
    finally:
        stop.set()
        sender.wake.set()
        await sending
    assert delivered.text == "会卡住的通知"
    async with store.read() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.chat_id == stuck))
    assert row is not None and row.sent_at and row.unknown_outcomes == 1


async def test_a_chat_that_refuses_for_good_fails_at_once(
    world: tuple[BotApiServer, Store, Transport],
) -> None:
    server, store, transport = world
    blocked, author = PUSHED[0], RESIDENT
    server.chats[blocked].blocked = True
    async with store.write() as session:
        for n in range(20):
            enqueue(session, [Reply(blocked, f"通知 {n}")], author)
        enqueue(session, [Reply(PUSHED[1], "另一户的通知")], None)
    rows = await drain(Sender(store, transport, _limits()), store)
    calls = [r for r in server.responses if str(r.chat_id) == str(blocked)]
    assert len(calls) == 1, "one refusal is enough for the chat's twenty messages"
    failed = [r for r in rows if r.chat_id == blocked]
    assert len(failed) == 20 and all(r.failed_at and "blocked" in (r.error or "") for r in failed)
    told = server.sent_to(author)
    assert len(told) == 1 and "通知未送达" in told[0].text, "the author is told once"
    assert server.sent_to(PUSHED[1])
