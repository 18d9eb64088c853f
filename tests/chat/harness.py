"""A running bot over the local Bot API server, with a seeded estate, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from bot.config import Settings
from bot.demo import settled
from bot.runtime import Runtime, make_transport
from bot.sandbox.server import BotApiServer, Sent
from bot.sender import SendLimits
from models.building_chat import new_bind_code
from models.contact_card import cards_for
from models.migrate import upgrade
from models.registry import Building, Household
from models.role import Grant, Role, grant_role
from models.scope import resolve_scope
from models.store import Store
from tests.registry_factory import make_estate

TOKEN = "123456789:TESTtokenForTheLocalServer_abcdefg"
BOT = "LinzhangTestBot"
RESIDENT, NEIGHBOUR, ADMIN, STRANGER = 1001, 1002, 2001, 3001
GROUP = -100500


@dataclass
class Harness:
    server: BotApiServer
    store: Store
    payloads: dict[str, str]
    bind_code: str
    runtime: Runtime

    async def say(
        self, user: int, text: str, chat: int | None = None, count: int = 1
    ) -> list[Sent]:
        """Send a message as a user and return the bot's next `count` messages in that chat."""
        where = chat if chat is not None else user
        before = len(self.server.sent_to(where))
        await self.server.send_text(user, text, chat)
        sent = await self.server.wait_sent(where, before + count)
        return sent[before:]

    async def press(self, user: int, message: Sent, index: int = 0, count: int = 1) -> list[Sent]:
        before = len(self.server.sent_to(message.chat_id))
        answers = len(self.server.callback_answers)
        await self.server.press(user, message, index)
        await self.server.wait_callback_answers(answers + 1)
        if count == 0:
            return []
        sent = await self.server.wait_sent(message.chat_id, before + count)
        return sent[before:]

    async def settle(self) -> None:
        """Wait until every stored update is handled and every outbox message is sent."""
        for _ in range(200):
            if await settled(self.server, self.store):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("bot did not settle")


async def seed(store: Store) -> tuple[dict[str, str], str]:
    """A small estate: households with cards, an estate admin, a bind code for 1栋."""
    async with store.write() as session:
        await make_estate(session, rooms=("101", "102"))
        estate = await resolve_scope(session, "estate:芙蓉花园")
        await grant_role(
            session,
            Grant(user_id=ADMIN, role=Role.ESTATE_ADMIN, scope=estate, display_name="张主任"),
            "test",
            date(2026, 11, 24),
        )
        households = list(await session.scalars(select(Household).order_by(Household.id)))
        issue = await cards_for(session, [h.id for h in households], "test")
        building = await session.scalar(select(Building))
        assert building is not None
        code = new_bind_code(session, building.id, "test")
        payloads = {}
        for h in households:
            payloads[h.room] = issue.cards[h.id].payload
        return payloads, code.code


@asynccontextmanager
async def running_bot(
    runtime_name: str,
    folder: Path,
    limits: SendLimits | None = None,
    database_url: str | None = None,
    seeder: Callable[[Store, BotApiServer], Awaitable[tuple[dict[str, str], str]]] | None = None,
    health: str = "off",
) -> AsyncIterator[Harness]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    server.add_user(RESIDENT, "张建国")
    server.add_user(NEIGHBOUR, "李秀英")
    server.add_user(ADMIN, "张主任")
    server.add_user(STRANGER, "Stranger", "en")
    server.add_group(GROUP, "芙蓉花园1栋业主群", admins=(ADMIN,))
    store = Store(database_url or f"sqlite+aiosqlite:///{folder / 'bot.db'}")
    await upgrade(store)
    payloads, code = await (seeder(store, server) if seeder else seed(store))
    settings = Settings(
        LINZHANG_DATABASE_URL=SecretStr(str(store.url)),
        TELEGRAM_BOT_TOKEN=SecretStr(TOKEN),
        TELEGRAM_API_URL=url,
        LINZHANG_RUNTIME=runtime_name,
        LINZHANG_HEALTH_LISTEN=health,
    )
    runtime = Runtime(
        store,
        make_transport(runtime_name, TOKEN, url),
        settings,
        limits=limits
        or SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000),
    )
    task = asyncio.create_task(runtime.run())
    try:
        yield Harness(server, store, payloads, code, runtime)
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()
        await store.dispose()
