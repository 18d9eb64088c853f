"""The worker: one update that fails, in its handler or when its rows are written, sinks no other;
a feature is a module that declares itself, and the router follows."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.ptb_adapter import PtbTransport
from bot.sandbox.server import BotApiServer, Sent
from bot.worker import Worker
from handlers.context import Context
from handlers.events import Reply
from handlers.flow import Command, Flow
from handlers.router import Router, default_flows
from handlers.turn import Turn
from models.audit import AuditEntry
from models.base import utcnow
from models.button import Pressed
from models.conversation import Conversation
from models.inbox import InboxUpdate, store_updates
from models.outbox import OutboxMessage
from models.person import Person
from models.rows import rows_of
from models.store import Store

BOT_ID = 4242
GOOD, BAD, ENGLISH_BAD = 501, 502, 503
CTX = Context("LinzhangTestBot", "zh_CN", ZoneInfo("Asia/Shanghai"))


def _transport() -> PtbTransport:
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    return transport


async def _store_texts(store: Store, messages: list[tuple[int, str, str]]) -> BotApiServer:
    """Store updates in which people send texts, as the ingress would; return the server that
    wrote them (never started)."""
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")
    for user, _, language in messages:
        if user not in server.users:
            server.add_user(user, f"居民{user}", language)
    async with store.write() as session:
        updates = [server.numbered(server.text_message(user, text)) for user, text, _ in messages]
        await store_updates(session, BOT_ID, updates)
    return server


async def _outcome(store: Store) -> tuple[dict[int, str], dict[int, str | None]]:
    async with store.read() as session:
        sent = {m.chat_id: m.params["text"] for m in await session.scalars(select(OutboxMessage))}
        inbox = {u.update_id: u.error for u in await session.scalars(select(InboxUpdate))}
        assert all(u.handled_at for u in await session.scalars(select(InboxUpdate)))
    return sent, inbox


async def boom(turn: Turn) -> list[Reply]:
    """A handler with a bug, after a write that must not survive it."""
    if turn.event.user_id in (BAD, ENGLISH_BAD):
        turn.session.add(Person(user_id=turn.event.user_id, display_name="half-done"))
        await turn.session.flush()
        raise RuntimeError("handler bug")
    return [turn.answer("chat.cancel_none")]


async def bad_row(turn: Turn) -> list[Reply]:
    """A handler whose audit row the database will refuse, but only when the rows are written."""
    actor = f"user:{turn.event.user_id}"
    if turn.event.user_id == BAD:
        actor = None  # type: ignore[assignment]  # NOT NULL in the table
    row = {"at": utcnow(), "actor": actor, "action": "test.row", "entity": "person"}
    rows_of(turn.session).add(AuditEntry, {**row, "entity_id": None, "before": None, "after": None})
    return [turn.answer("chat.cancel_none")]


TESTS = Flow(
    name="tests",
    commands=(Command("boom", boom), Command("row", bad_row)),
)


async def test_a_failing_update_gets_an_apology_and_its_neighbours_commit(store: Store) -> None:
    await _store_texts(
        store,
        [
            (GOOD, "/boom", "zh-hans"),
            (BAD, "/boom", "zh-hans"),
            (GOOD + 10, "/help", "en"),
            (ENGLISH_BAD, "/boom", "en"),
        ],
    )
    router = Router([*default_flows(), TESTS])
    assert await Worker(store, _transport(), CTX, asyncio.Event(), router).run_once() == 4

    sent, inbox = await _outcome(store)
    assert sent[GOOD] == "当前没有进行中的操作。"
    assert sent[GOOD + 10].startswith("Commands you can use:\n/start")
    assert sent[BAD] == "抱歉，处理时出了点问题，请稍后再试。您发的内容没有丢失。"
    assert sent[ENGLISH_BAD].startswith("Sorry, something went wrong")
    assert inbox == {1: None, 2: "RuntimeError", 3: None, 4: "RuntimeError"}
    async with store.read() as session:
        assert list(await session.scalars(select(Person.user_id))) == []


async def test_a_row_refused_when_written_fails_only_its_own_update(store: Store) -> None:
    """Rows written together at the end of a batch (audit entries, buttons, outbox): one the
    database refuses fails its own update, inside the worker's failure handling; the others
    commit, and the inbox drains."""
    await _store_texts(
        store, [(GOOD, "/row", "zh-hans"), (BAD, "/row", "zh-hans"), (GOOD + 10, "/row", "zh-hans")]
    )
    router = Router([*default_flows(), TESTS])
    worker = Worker(store, _transport(), CTX, asyncio.Event(), router)
    assert await worker.run_once() == 3
    assert await worker.run_once() == 0  # nothing left: not retried forever

    sent, inbox = await _outcome(store)
    assert sent[GOOD] == sent[GOOD + 10] == "当前没有进行中的操作。"
    assert sent[BAD].startswith("抱歉")
    assert inbox == {1: None, 2: "IntegrityError", 3: None}
    async with store.read() as session:
        written = list(await session.scalars(select(AuditEntry.actor).order_by(AuditEntry.id)))
    assert written == [f"user:{GOOD}", f"user:{GOOD + 10}"]


class Tally(StrEnum):
    COUNTING = "counting"


async def start_tally(turn: Turn) -> list[Reply]:
    await turn.begin("tally", Tally.COUNTING, {"seen": 0})
    [more] = turn.buttons([("chat.consent_agree", "tally.more", {"by": 2})])
    return [turn.answer_text("counting", [[more]])]


async def add_by_button(turn: Turn, pressed: Pressed) -> list[Reply]:
    state = await turn.conversation()
    seen = (state.data["seen"] if state else 0) + int(pressed.data["by"])
    await turn.begin("tally", Tally.COUNTING, {"seen": seen})
    return [turn.answer_text(f"seen {seen}")]


async def add_by_text(turn: Turn, state: Conversation) -> list[Reply]:
    seen = state.data["seen"] + len(turn.event.text or "")
    await turn.begin("tally", Tally.COUNTING, {"seen": seen})
    return [turn.answer_text(f"seen {seen}")]


TOY = Flow(
    name="tally",
    commands=(Command("tally", start_tally),),
    buttons={"tally.more": add_by_button},
    steps=Tally,
    on_text=add_by_text,
)


async def test_a_new_flow_is_one_module_and_the_router_follows(store: Store) -> None:
    """A command, a button and a conversation step, declared in one place, routed without a
    change to the router; /help lists the command."""
    server = await _store_texts(store, [(GOOD, "/tally", "zh-hans"), (GOOD, "abc", "zh-hans")])
    router = Router([*default_flows(), TOY])
    worker = Worker(store, _transport(), CTX, asyncio.Event(), router)
    await worker.run_once()
    async with store.read() as session:
        texts = [
            (m.params["text"], m.params.get("reply_markup"))
            for m in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    assert [text for text, _ in texts] == ["counting", "seen 3"]
    markup = texts[0][1]
    assert markup is not None
    button_data = markup["inline_keyboard"][0][0]["callback_data"]

    async with store.write() as session:
        # The server never ran: the press names the message by what the bot sent.
        counting = Sent(GOOD, 1, "counting", markup, "sendMessage", 0.0)
        body = server.button_press(GOOD, counting, data=button_data)
        await store_updates(session, BOT_ID, [server.numbered(body)])
        await store_updates(session, BOT_ID, [server.numbered(server.text_message(GOOD, "/help"))])
    await worker.run_once()
    async with store.read() as session:
        latest = [
            m.params.get("text")
            for m in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    assert "seen 5" in latest
    assert any(text and "/tally" in text for text in latest)


def test_two_flows_cannot_claim_the_same_command() -> None:
    twin = Flow(name="twin", commands=(Command("tally", start_tally),))
    try:
        Router([TOY, twin])
    except ValueError as error:
        assert "tally" in str(error)
    else:
        raise AssertionError("a command declared twice was accepted")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_chat_whose_earlier_update_another_worker_holds_waits(store: Store) -> None:
    """Two workers on PostgreSQL: while one holds a chat's first update, the other handles
    other chats' updates but not that chat's second, which would overtake the first."""
    await _store_texts(
        store, [(GOOD, "/cancel", "zh-hans"), (GOOD, "/help", "zh-hans"), (BAD, "/help", "zh-hans")]
    )
    worker = Worker(store, _transport(), CTX, asyncio.Event(), Router())
    async with store.write() as other:
        # The other worker's claim: the first update, locked until its transaction ends.
        await other.execute(
            select(InboxUpdate.id).where(InboxUpdate.update_id == 1).with_for_update()
        )
        await worker.run_once()
        async with store.read() as session:
            handled = {
                u.update_id: u.handled_at is not None
                for u in await session.scalars(select(InboxUpdate))
            }
        assert handled == {1: False, 2: False, 3: True}
    await worker.run_once()
    async with store.read() as session:
        answers = [
            m.params["text"]
            for m in await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.chat_id == GOOD)
                .order_by(OutboxMessage.id)
            )
        ]
    assert answers[0] == "当前没有进行中的操作。" and answers[1].startswith("您可以使用")


async def later_answer(turn: Turn) -> list[Reply]:
    """Answer now; the slow part follows once the batch is committed."""

    async def slow() -> list[Reply]:
        if turn.event.user_id == BAD:
            raise RuntimeError("drawing failed")
        return [Reply(turn.event.chat_id, "图表")]

    turn.after(slow)
    return [turn.answer("chat.cancel_none")]


async def test_work_after_the_batch_follows_its_answer(store: Store) -> None:
    await _store_texts(store, [(GOOD, "/later", "zh-hans"), (BAD, "/later", "zh-hans")])
    flow = Flow(name="later", commands=(Command("later", later_answer),))
    worker = Worker(store, _transport(), CTX, asyncio.Event(), Router([*default_flows(), flow]))
    assert await worker.run_once() == 2
    await worker.finish_later()
    async with store.read() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    said = [(m.chat_id, m.params["text"], m.urgent) for m in rows]
    # Both answered; the work that failed lost only what would have followed.
    assert said == [
        (GOOD, "当前没有进行中的操作。", True),
        (BAD, "当前没有进行中的操作。", True),
        (GOOD, "图表", True),
    ]
