"""Arbitrary text, commands and button tokens: no crash, an answer in the person's language,
no partial state."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.batch import Batch
from handlers.context import Context
from handlers.events import ChatKind, Incoming
from handlers.router import Router
from models.conversation import Conversation
from models.migrate import upgrade
from models.person import Person, Resident
from models.request import Request
from models.rows import rows_of
from models.store import Store
from tests.chat.harness import seed
from tests.request_world import HEAD1, R1, SECRETARY, build_world


class RolledBack(Exception):
    """Raised to leave a transaction without its changes."""


HAN = re.compile(r"[\u4e00-\u9fff]")


CTX = Context("LinzhangTestBot", "zh_CN", ZoneInfo("Asia/Shanghai"))
ROUTER = Router()

commands = st.sampled_from(
    ["start", "me", "help", "lang", "cancel", "bind", "request", "my", "tasks", "queue", "x"]
)
events = st.one_of(
    st.builds(lambda c, a: {"command": c, "args": a}, commands, st.text(max_size=80)),
    st.builds(lambda t: {"text": t}, st.text(min_size=1, max_size=5000)),
    st.builds(lambda b: {"button": b}, st.text(max_size=70)),
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def prepare() -> None:
        store = Store(url)
        await upgrade(store)
        await seed(store)
        await store.dispose()

    asyncio.run(prepare())
    return url


async def _counts(store: Store) -> list[int]:
    async with store.read() as session:
        return await _written(session)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events, english=st.booleans(), in_group=st.booleans())
def test_any_input_gets_a_calm_answer(
    database: str, event: dict[str, str], english: bool, in_group: bool
) -> None:
    async def run() -> None:
        store = Store(database)
        before = await _counts(store)
        incoming = Incoming(
            update_id=1,
            chat_id=-100 if in_group else 4242,
            chat_kind=ChatKind.SUPERGROUP if in_group else ChatKind.PRIVATE,
            user_id=4242,
            display_name="Fuzz",
            language_code="en" if english else "zh-hans",
            callback_id="cb" if "button" in event else None,
            **event,  # type: ignore[arg-type]
        )
        try:
            async with store.write() as session:
                replies = await ROUTER.handle(session, incoming, CTX, Batch(session))
                await rows_of(session).write(session)
                written = await _written(session)
                # Leave nothing behind: roll back, having read what would have been written.
                raise RolledBack
        except RolledBack:
            pass
        await store.dispose()
        for reply in replies:
            assert reply.callback_id is not None or reply.text.strip()
            if reply.text and english:
                assert not HAN.search(reply.text.replace("中文", "").replace("请选择语言", "")), (
                    reply.text
                )
            if reply.text and not english and reply.callback_id is None:
                assert HAN.search(reply.text), reply.text
        # No input without a valid card or button may create a person, a resident or a request.
        assert written[:2] == before[:2] and written[3] == before[3]

    asyncio.run(run())


async def _written(session: AsyncSession) -> list[int]:
    return [
        int(await session.scalar(select(func.count()).select_from(m)) or 0)
        for m in (Person, Resident, Conversation, Request)
    ]


@pytest.fixture(scope="module")
def request_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("fuzz_requests") / "fuzz.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def prepare() -> None:
        store = Store(url)
        await upgrade(store)
        async with store.write() as session:
            await build_world(session, date(2026, 11, 24))
        await store.dispose()

    asyncio.run(prepare())
    return url


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flow=st.sampled_from(["request", "request_note", "deliberation", "nonsense"]),
    step=st.sampled_from(["kind", "describe", "other", "confirm", "progress", "agree", "x"]),
    data=st.dictionaries(st.sampled_from(["kind", "id", "description"]), st.integers(-5, 5)),
    text=st.text(min_size=1, max_size=1200),
    user=st.sampled_from([R1, HEAD1, SECRETARY]),
)
def test_any_answer_inside_a_request_conversation_is_safe(
    request_database: str, flow: str, step: str, data: dict[str, int], text: str, user: int
) -> None:
    """Whatever state a conversation is in and whatever is typed: no crash, no request filed."""

    async def run() -> None:
        store = Store(request_database)
        incoming = Incoming(
            update_id=1,
            chat_id=user,
            chat_kind=ChatKind.PRIVATE,
            user_id=user,
            display_name="Fuzz",
            language_code="zh-hans",
            text=text,
        )
        try:
            async with store.write() as session:
                session.add(
                    Conversation(
                        chat_id=user,
                        user_id=user,
                        flow=flow,
                        step=step,
                        data=data,
                        expires_at=datetime.now(UTC) + timedelta(hours=1),
                    )
                )
                await session.flush()
                replies = await ROUTER.handle(session, incoming, CTX, Batch(session))
                requests = await session.scalar(select(func.count()).select_from(Request))
                raise RolledBack
        except RolledBack:
            pass
        await store.dispose()
        assert requests == 0
        assert all(r.callback_id is not None or r.text.strip() for r in replies)

    asyncio.run(run())
