"""What a transaction already looked up is reused, and forgotten as soon as it may be untrue."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ptb_adapter import PtbTransport
from bot.sandbox.server import BotApiServer, Sent
from bot.worker import Worker
from handlers.context import Context
from models import conversation
from models.contact_card import cards_for
from models.inbox import store_updates
from models.known import find, load, remember
from models.outbox import OutboxMessage
from models.pending import flush_when_touched
from models.person import Person
from models.registry import Building, Estate, Household
from models.role import Role, RoleAssignment, live_assignments, prefetch_held
from models.scope import ScopeKind
from models.store import Store
from tests.registry_factory import make_estate

BOT_ID = 4242
RESIDENT = 601


class Statements:
    """Count the statements a store sends to its database."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


async def test_an_absence_is_remembered_until_the_row_is_added(store: Store) -> None:
    statements = Statements(store)
    async with store.write() as session:
        session.add(Person(user_id=1, display_name="甲"))
        await session.flush()
        before = statements.count
        await load(session, Person, [1, 2, 3])
        assert statements.count == before + 1
        assert (await find(session, Person, 1)) is not None
        assert await find(session, Person, 2) is None
        assert await find(session, Person, 3) is None
        assert statements.count == before + 1

        session.add(Person(user_id=2, display_name="乙"))
        found = await find(session, Person, 2)
        assert found is not None and found.display_name == "乙"
        await session.execute(insert(Person).values(user_id=3, display_name="丙"))
        found = await find(session, Person, 3)
        assert found is not None and found.display_name == "丙"


async def test_an_answer_is_reused_until_what_it_was_read_from_changes(store: Store) -> None:
    async with store.write() as session:
        await make_estate(session)
        building = await session.scalar(select(Building))
        assert building is not None
        building_id = building.id
        asked: list[str] = []

        async def name() -> str:
            found = await session.scalar(select(Building.name).where(Building.id == building_id))
            assert found is not None
            asked.append(found)
            return found

        async def remembered() -> str:
            return await remember(session, ("name", building_id), (Estate, Building), name)

        assert await remembered() == "1栋"
        assert await remembered() == "1栋"
        assert asked == ["1栋"]

        building.name = "2栋"  # not flushed yet: asking again flushes it and sees it
        assert await remembered() == "2栋"
        await session.execute(update(Building).values(name="3栋"))
        assert await remembered() == "3栋"
        assert asked == ["1栋", "2栋", "3栋"]
        await session.refresh(building)

        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                building.name = "4栋"
                assert await remembered() == "4栋"
                raise RuntimeError("rolled back")
        assert await remembered() == "3栋"
        assert asked == ["1栋", "2栋", "3栋", "4栋", "3栋"]


async def _consent_question(session: AsyncSession, user: int) -> Sent:
    message = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.chat_id == user).order_by(OutboxMessage.id.desc())
    )
    assert message is not None and "reply_markup" in message.params
    return Sent(user, message.id, message.params["text"], message.params["reply_markup"], "", 0)


async def _asked_to_consent(store: Store) -> tuple[Worker, BotApiServer, str]:
    """A resident who sent /start with their card and was asked to consent."""
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    ctx = Context("LinzhangTestBot", "zh_CN", transport, ZoneInfo("Asia/Shanghai"))
    worker = Worker(store, transport, ctx, asyncio.Event())
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")  # writes the updates; never started
    server.add_user(RESIDENT, "王芳", "zh-hans")
    async with store.write() as session:
        await make_estate(session)
        household = await session.scalar(select(Household).where(Household.room == "101"))
        assert household is not None
        payload = (await cards_for(session, [household.id], "test")).cards[household.id].payload
        start = server.text_message(RESIDENT, f"/start {payload}")
        await store_updates(session, BOT_ID, [server.numbered(start)])
    assert await worker.run_once() == 1
    return worker, server, payload


async def _agree_then(store: Store, then: str) -> list[str]:
    """Press 同意 and send `then` in one batch; return every text the resident was sent."""
    worker, server, payload = await _asked_to_consent(store)
    async with store.write() as session:
        press = server.button_press(RESIDENT, await _consent_question(session, RESIDENT), 0)
        text = server.text_message(RESIDENT, then.format(payload=payload))
        await store_updates(session, BOT_ID, [server.numbered(press), server.numbered(text)])
    assert await worker.run_once() == 2
    async with store.read() as session:
        sent = await session.scalars(
            select(OutboxMessage.params)
            .where(OutboxMessage.chat_id == RESIDENT, OutboxMessage.method == "sendMessage")
            .order_by(OutboxMessage.id)
        )
        return [params["text"] for params in sent]


async def test_a_person_registered_earlier_in_the_batch_is_known_to_later_updates(
    store: Store,
) -> None:
    """The batch looked the person up before they existed; /me after agreeing must see them."""
    answers = await _agree_then(store, "/me")
    assert answers[-3].startswith("登记成功")
    assert "芙蓉花园1栋1单元101室" in answers[-1]


async def test_a_binding_made_earlier_in_the_batch_is_known_to_a_later_start(
    store: Store,
) -> None:
    """The batch read the person's bindings (none) first; /start after agreeing must see one."""
    answers = await _agree_then(store, "/start {payload}")
    assert answers[-3].startswith("登记成功")
    assert (
        answers[-1]
        == "您已登记为 芙蓉花园1栋1单元101室 的居民，不用再登记。发送 /me 查看登记信息。"
    )


async def test_roles_read_for_a_batch_follow_a_grant_in_it(store: Store) -> None:
    async with store.write() as session:
        estate = await make_estate(session)
        session.add(Person(user_id=1, display_name="甲"))
        await session.flush()
        flush_when_touched(session)
        await prefetch_held(session, [1])
        assert await live_assignments(session, user_id=1) == []
        session.add(
            RoleAssignment(
                user_id=1,
                role=Role.ESTATE_ADMIN.value,
                scope_kind=ScopeKind.ESTATE.value,
                scope_id=estate.id,
                granted_by="test",
            )
        )
        held = await live_assignments(session, user_id=1)
        assert [a.role for a in held] == [Role.ESTATE_ADMIN.value]


async def test_an_answer_that_new_rows_cannot_change_survives_them(store: Store) -> None:
    async with store.write() as session:
        session.add(Person(user_id=1, display_name="甲"))
        await session.flush()
        asked: list[str] = []

        async def name() -> str:
            found = await session.scalar(select(Person.display_name).where(Person.user_id == 1))
            assert found is not None
            asked.append(found)
            return found

        async def remembered() -> str:
            return await remember(session, ("name", 1), (Person,), name, grows=(Person,))

        assert await remembered() == "甲"
        session.add(Person(user_id=2, display_name="乙"))
        await session.flush()
        assert await remembered() == "甲"
        assert asked == ["甲"]

        person = await find(session, Person, 1)
        assert person is not None
        person.display_name = "甲乙"
        assert await remembered() == "甲乙"
        assert asked == ["甲", "甲乙"]


@pytest.mark.parametrize("when_touched", [False, True], ids=["autoflush", "flush_when_touched"])
async def test_a_conversation_ended_and_begun_again_in_one_transaction_is_the_new_one(
    store: Store, when_touched: bool
) -> None:
    async with store.write() as session:
        if when_touched:
            flush_when_touched(session)
        await conversation.begin(session, 1, 1, "registration", "consent", {})
        await session.flush()
        assert await conversation.end(session, 1, 1)
        assert await conversation.current(session, 1, 1) is None
        assert not await conversation.end(session, 1, 1)
        await conversation.begin(session, 1, 1, "request", "kind", {"n": 2})
        again = await conversation.current(session, 1, 1)
        assert again is not None and again.flow == "request"
    async with store.read() as session:
        stored = list(await session.scalars(select(conversation.Conversation)))
    assert [(c.flow, c.step, c.data) for c in stored] == [("request", "kind", {"n": 2})]
