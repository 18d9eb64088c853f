"""One update whose handler fails cannot sink the others handled in its batch."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ptb_adapter import PtbTransport
from bot.sandbox.server import BotApiServer
from bot.worker import Worker
from handlers.context import Context
from handlers.events import Incoming, Reply
from handlers.router import handle as real_handle
from models.inbox import InboxUpdate, store_updates
from models.outbox import OutboxMessage
from models.person import Person
from models.store import Store

BOT_ID = 4242
GOOD, BAD, ENGLISH_BAD = 501, 502, 503


@pytest.fixture
def failing_for_bad_users(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(session: AsyncSession, event: Incoming, ctx: Context) -> list[Reply]:
        if event.user_id in (BAD, ENGLISH_BAD):
            session.add(Person(user_id=event.user_id, display_name="half-done"))
            await session.flush()  # a write that must not survive the failure
            raise RuntimeError("handler bug")
        return await real_handle(session, event, ctx)

    monkeypatch.setattr("bot.worker.handle", handle)


@pytest.mark.usefixtures("failing_for_bad_users")
async def test_a_failing_update_gets_an_apology_and_its_neighbours_commit(store: Store) -> None:
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    ctx = Context("LinzhangTestBot", "zh_CN", transport, ZoneInfo("Asia/Shanghai"))
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")  # writes the updates; never started
    users = [(GOOD, "zh-hans"), (BAD, "zh-hans"), (GOOD + 10, "en"), (ENGLISH_BAD, "en")]
    for user, language in users:
        server.add_user(user, f"居民{user}", language)
    async with store.write() as session:
        updates = [server.numbered(server.text_message(user, "/help")) for user, _ in users]
        await store_updates(session, BOT_ID, updates)

    assert await Worker(store, transport, ctx, asyncio.Event()).run_once() == 4

    async with store.read() as session:
        sent = {m.chat_id: m.params["text"] for m in await session.scalars(select(OutboxMessage))}
        inbox = {
            u.update_id: (u.handled_at is not None, u.error)
            for u in await session.scalars(select(InboxUpdate))
        }
        people = list(await session.scalars(select(Person.user_id)))
    assert sent[GOOD].startswith("您可以使用这些命令：\n/start")
    assert sent[GOOD + 10].startswith("You can use these commands:\n/start")
    assert sent[BAD] == "抱歉，处理时出了点问题，请稍后再试。您的信息没有丢失。"
    assert sent[ENGLISH_BAD].startswith("Sorry, something went wrong")
    assert inbox == {
        1: (True, None),
        2: (True, "RuntimeError"),
        3: (True, None),
        4: (True, "RuntimeError"),
    }
    assert people == []


@pytest.fixture
def refused_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(session: AsyncSession, event: Incoming, ctx: Context) -> list[Reply]:
        replies = await real_handle(session, event, ctx)
        if event.user_id == BAD:
            # Not flushed: the database refuses it only when the batch's writes go in.
            session.add(Person(user_id=GOOD, display_name="a second 居民501"))
        return replies

    monkeypatch.setattr("bot.worker.handle", handle)


@pytest.mark.usefixtures("refused_at_the_end")
async def test_a_write_refused_when_the_batch_is_written_fails_only_its_update(
    store: Store,
) -> None:
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    ctx = Context("LinzhangTestBot", "zh_CN", transport, ZoneInfo("Asia/Shanghai"))
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")  # writes the updates; never started
    for user in (GOOD, BAD):
        server.add_user(user, f"居民{user}", "zh-hans")
    async with store.write() as session:
        session.add(Person(user_id=GOOD, display_name="居民501"))
        updates = [server.numbered(server.text_message(user, "/help")) for user in (GOOD, BAD)]
        await store_updates(session, BOT_ID, updates)

    assert await Worker(store, transport, ctx, asyncio.Event()).run_once() == 2

    async with store.read() as session:
        sent = {m.chat_id: m.params["text"] for m in await session.scalars(select(OutboxMessage))}
        errors = {u.update_id: u.error for u in await session.scalars(select(InboxUpdate))}
        people = list(await session.scalars(select(Person.display_name)))
    assert sent[GOOD].startswith("您可以使用这些命令：")
    assert sent[BAD] == "抱歉，处理时出了点问题，请稍后再试。您的信息没有丢失。"
    assert errors == {1: None, 2: "IntegrityError"}
    assert people == ["居民501"]
