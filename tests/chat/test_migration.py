"""A bound group upgraded to a supergroup stays bound under its new id, on both runtimes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.runtime import make_transport
from handlers.events import Reply
from handlers.outgoing import enqueue
from models import button
from models.audit import AuditEntry
from models.base import utcnow
from models.building_chat import BuildingChat, migrate_group
from models.outbox import OutboxMessage
from models.request import Request, RequestKind
from models.request_flow import Clock, file_request
from models.store import Store
from models.workdays import WorkCalendar
from tests.chat.harness import ADMIN, GROUP, NEIGHBOUR, RESIDENT, TOKEN, Harness, running_bot
from tests.request_world import R2, SECRETARY, build_world

SUPERGROUP = -1001234500500


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path) as harness:
        # A basic group, as a group that can be upgraded is.
        harness.server.chats[GROUP].type = "group"
        yield harness


async def _bound_group_with_residents(bot: Harness) -> None:
    """Register two residents of 101, bind the group to their building."""
    for user in (RESIDENT, NEIGHBOUR):
        [consent] = await bot.say(user, f"/start {bot.payloads['101']}")
        await bot.press(user, consent, 0)
    await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    async with bot.store.read() as session:
        assert await session.get(BuildingChat, GROUP) is not None


async def _migrations(bot: Harness) -> list[AuditEntry]:
    async with bot.store.read() as session:
        return list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "chat.migrate"))
        )


async def _notice_reaches_the_supergroup(bot: Harness) -> None:
    """A group notice addressed to the old id arrives in the supergroup; nobody hears of it."""
    admin_saw = len(bot.server.sent_to(ADMIN))
    before = len(bot.server.sent_to(SUPERGROUP))
    async with bot.store.write() as session:
        enqueue(session, [Reply(GROUP, "明天上午停水", is_group=True)], ADMIN)
    sent = await bot.server.wait_sent(SUPERGROUP, before + 1)
    assert sent[before].text == "明天上午停水"
    await bot.settle()
    async with bot.store.read() as session:
        rows = await session.scalars(select(OutboxMessage))
        [row] = [r for r in rows if r.params.get("text") == "明天上午停水"]
    assert row.sent_at is not None and row.failed_at is None
    assert row.chat_id == SUPERGROUP and row.attempts == 0
    # Not a failure: the notice's author is told nothing.
    assert len(bot.server.sent_to(ADMIN)) == admin_saw


async def _filed(bot: Harness, chat: int, text: str) -> tuple[Request, str]:
    """File a building matter in a group as RESIDENT; return it and the group's answer."""
    [answer] = await bot.say(RESIDENT, f"/request {text}", chat=chat)
    async with bot.store.read() as session:
        request = await session.scalar(select(Request).where(Request.description == text))
    assert request is not None, answer.text
    assert request.reference in answer.text
    return request, answer.text


async def _request_in_the_supergroup_is_accepted(bot: Harness) -> None:
    request, _ = await _filed(bot, SUPERGROUP, "电梯有异响")
    assert request.group_chat_id == SUPERGROUP


async def test_service_messages_move_the_binding(bot: Harness) -> None:
    await _bound_group_with_residents(bot)
    filed = bot.server.sent_to(GROUP)
    request, _ = await _filed(bot, GROUP, "三楼楼道灯坏了")
    posted = bot.server.sent_to(GROUP)[len(filed)]

    await bot.server.migrate(GROUP, SUPERGROUP, by=ADMIN)
    await bot.settle()

    async with bot.store.read() as session:
        # (Fails while handlers/router.py does not route `event.migration` to the handler.)
        assert await session.get(BuildingChat, GROUP) is None
        bound = await session.get(BuildingChat, SUPERGROUP)
        moved = await session.get(Request, request.id)
    assert bound is not None and bound.bound_by == ADMIN
    assert moved is not None and moved.group_chat_id == SUPERGROUP
    # Told twice (once in each chat), moved once.
    [entry] = await _migrations(bot)
    assert entry.before == {"chat_id": GROUP} and entry.actor == f"user:{ADMIN}"
    # The "me too" button under the old message works from the supergroup.
    answers = len(bot.server.callback_answers)
    await bot.server.press(NEIGHBOUR, replace(posted, chat_id=SUPERGROUP))
    await bot.server.wait_callback_answers(answers + 1)
    assert request.reference in bot.server.callback_answers[-1]["text"]

    await _notice_reaches_the_supergroup(bot)
    await _request_in_the_supergroup_is_accepted(bot)


async def test_a_refused_send_moves_the_binding(bot: Harness) -> None:
    await _bound_group_with_residents(bot)
    # The bot missed the service messages: it learns of the move when a send is refused.
    await bot.server.migrate(GROUP, SUPERGROUP, by=ADMIN, announce=False)

    await _notice_reaches_the_supergroup(bot)

    [entry] = await _migrations(bot)
    assert entry.actor == "system:sender"
    await _request_in_the_supergroup_is_accepted(bot)
    # Nothing failed on the way.
    async with bot.store.read() as session:
        failed = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None)))
        )
    assert failed == []


async def test_migrate_group_moves_everything_once(store: Store) -> None:
    async with store.write() as session:
        world = await build_world(session, date.today())
        home = world.households[R2]
        session.add(BuildingChat(chat_id=GROUP, building_id=home.building_id, bound_by=SECRETARY))
        clock = Clock(WorkCalendar(), ZoneInfo("Asia/Shanghai"))
        change = await file_request(
            session,
            home,
            R2,
            RequestKind.SERVICE,
            "楼道灯坏了",
            clock,
            personal=False,
            group_chat_id=GROUP,
        )
        [token] = button.issue(session, button.ANYONE, GROUP, [("req.follow", {"id": 1})])
        enqueue(
            session,
            [Reply(GROUP, "待发", is_group=True), Reply(GROUP, "已发", is_group=True)],
            None,
        )
    async with store.write() as session:
        sent = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == 2))
        assert sent is not None
        sent.sent_at = utcnow()

    for moved in (True, False):  # the service messages and a refused send may all report it
        async with store.write() as session:
            assert await migrate_group(session, GROUP, SUPERGROUP) is moved

    async with store.read() as session:
        assert await session.get(BuildingChat, GROUP) is None
        bound = await session.get(BuildingChat, SUPERGROUP)
        request = await session.get(Request, change.request.id)
        pending, done = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        shared = await session.get(button.ButtonToken, token)
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "chat.migrate"))
        )
    assert bound is not None and bound.building_id == home.building_id
    assert request is not None and request.group_chat_id == SUPERGROUP
    assert (pending.chat_id, pending.params["chat_id"]) == (SUPERGROUP, SUPERGROUP)
    assert (done.chat_id, done.params["chat_id"]) == (GROUP, GROUP)  # history stays as it was
    assert shared is not None and shared.chat_id == SUPERGROUP
    [entry] = entries
    assert entry.after == {
        "chat_id": SUPERGROUP,
        "building_id": home.building_id,
        "requests": 1,
        "messages": 1,
        "buttons": 1,
    }


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
def test_an_upgrade_announced_by_an_anonymous_admin_is_read(runtime: str) -> None:
    transport = make_transport(runtime, TOKEN, "http://127.0.0.1:9")
    chat = {"id": SUPERGROUP, "type": "supergroup", "title": "芙蓉花园1栋业主群"}
    payload = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1764000000,
            "chat": chat,
            # An anonymous admin's upgrade is sent by Telegram's stand-in bot, for the chat.
            "from": {"id": 1087968824, "is_bot": True, "first_name": "Group"},
            "sender_chat": chat,
            "migrate_from_chat_id": GROUP,
        },
    }
    event = transport.to_event(payload)
    assert event is not None and event.migration == (GROUP, SUPERGROUP)
