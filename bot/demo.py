"""The demo: the local Bot API server, the real runtime on SQLite, a scripted walk-through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from bot.config import Settings
from bot.demo_election import election_walk_through
from bot.demo_week import week_walk_through
from bot.runtime import Runtime, make_transport
from bot.sandbox.server import BotApiServer, Sent
from models.building_chat import new_bind_code
from models.contact_card import cards_for
from models.inbox import unhandled
from models.migrate import upgrade
from models.outbox import undelivered
from models.profile import set_phone
from models.registry import Building, Estate, Household
from models.role import Force, Grant, Role, grant_role
from models.roster import apply_import, plan_import
from models.roster_file import read_roster
from models.scope import resolve_scope
from models.store import Store
from texts import t

TOKEN = "7000001:LinzhangDemoTokenForTheLocalServer"
BOT_NAME = "LinzhangDemoBot"
ADMIN, HEAD, RESIDENT, NEWCOMER = 700001, 700002, 700101, 700102
SECRETARY, PROPERTY = 700003, 700004
GROUP = -1007000001
GROUP_TITLE = "芙蓉花园1栋业主群"
ESTATE = "芙蓉花园"


async def settled(server: BotApiServer, store: Store) -> bool:
    """Tell whether every update sent to the bot is handled and every answer delivered."""
    # The server is asked first: an update it no longer holds was stored before the bot
    # confirmed it, so the database, read afterwards, shows it pending or shows its answers.
    # Read the other way round, an update stored and confirmed between the two reads is missed.
    if server.unconfirmed:
        return False
    async with store.read() as session:
        return not await unhandled(session) and not await undelivered(session)


class Transcript:
    """Print the conversation, one line per message, saying who said it and where."""

    def __init__(
        self,
        server: BotApiServer,
        store: Store,
        names: dict[int, str],
        language: str,
        out: Callable[[str], None],
    ) -> None:
        self.server = server
        self.store = store
        self.names = names
        self.language = language
        self.out = out
        self.shown = 0

    def where(self, chat_id: int) -> str:
        if chat_id == GROUP:
            return t("demo.group", self.language, title=GROUP_TITLE)
        return t("demo.private", self.language, name=self.names[chat_id])

    def person(self, user_id: int, chat_id: int, text: str) -> None:
        self.out(f"{self.where(chat_id)} {self.names[user_id]}：{text}")

    async def bot_says(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait for the bot's next `count` messages anywhere and print them."""
        await self.server.wait_total(self.shown + count, timeout)
        new = self.server.sent[self.shown : self.shown + count]
        self.shown += count
        for sent in new:
            buttons = "".join(f" [{b['text']}]" for b in sent.buttons())
            text = " / ".join(line for line in sent.text.splitlines() if line.strip())
            self.out(f"{self.where(sent.chat_id)} {t('demo.bot', self.language)}：{text}{buttons}")
        return new

    async def bot_answers(self, timeout: float = 20.0) -> list[Sent]:
        """Print everything the bot says in answer: until every update is handled and sent."""
        async with asyncio.timeout(timeout):
            await self.server.wait_total(self.shown + 1, timeout)
            while not await settled(self.server, self.store):  # noqa: ASYNC110 - the database has no event
                await asyncio.sleep(0.05)
        return await self.bot_says(len(self.server.sent) - self.shown)

    async def press(self, user: int, message: Sent, index: int) -> list[Sent]:
        self.out(
            t(
                "demo.press",
                self.language,
                name=self.names[user],
                button=message.buttons()[index]["text"],
            )
        )
        await self.server.press(user, message, index)
        return await self.bot_answers()

    async def say(self, user: int, text: str, chat: int | None = None) -> list[Sent]:
        self.person(user, chat or user, text)
        await self.server.send_text(user, text, chat)
        return await self.bot_answers()


async def seed(store: Store, roster: Path) -> tuple[str, str]:
    """Import the sample roster, appoint an admin and a head, issue cards and a bind code."""
    rows, errors = read_roster(roster)
    if errors:
        raise ValueError(f"sample roster has errors: {errors[:3]}")
    today = date.today()
    async with store.write() as session:
        plan = await plan_import(session, rows, allow_new_estates=True)
        await apply_import(session, plan, "demo", {"file": roster.name})
        estate = await resolve_scope(session, f"estate:{ESTATE}")
        group = await resolve_scope(session, f"group:{ESTATE}/1栋/1单元")
        await grant_role(
            session, Grant(ADMIN, Role.ESTATE_ADMIN, estate, display_name="张主任"), "demo", today
        )
        await grant_role(
            session, Grant(HEAD, Role.NEIGHBOUR_HEAD, group, display_name="李阿姨"), "demo", today
        )
        # The head agreed to have her phone printed on the cards and shown at registration.
        await set_phone(session, HEAD, "13907331234", True, "demo")
        await grant_role(
            session, Grant(SECRETARY, Role.SECRETARY, estate, display_name="周书记"), "demo", today
        )
        await grant_role(
            session,
            Grant(PROPERTY, Role.FORCE_MEMBER, estate, Force.PROPERTY, display_name="物业小陈"),
            "demo",
            today,
        )
        household = await session.scalar(
            select(Household)
            .join(Building)
            .join(Estate)
            .where(
                Estate.name == ESTATE,
                Building.name == "1栋",
                Household.unit == "1单元",
                Household.room == "101",
            )
        )
        assert household is not None
        issue = await cards_for(session, [household.id], "demo")
        code = new_bind_code(session, household.building_id, "demo")
        return issue.cards[household.id].payload, code.code


async def run_demo(
    database: Path, roster: Path, runtime_name: str, language: str, out: Callable[[str], None]
) -> None:
    """Play the walk-through: a resident registers, an admin binds, a newcomer is welcomed."""
    store = Store(f"sqlite+aiosqlite:///{database}")
    await upgrade(store)
    payload, code = await seed(store, roster)

    server = BotApiServer(TOKEN, BOT_NAME)
    url = await server.start()
    names = {
        ADMIN: "张主任",
        HEAD: "李阿姨",
        SECRETARY: "周书记",
        PROPERTY: "物业小陈",
        RESIDENT: "王秀英",
        NEWCOMER: "赵敏",
    }
    for user_id, name in names.items():
        server.add_user(user_id, name, "zh-hans")
    server.add_group(GROUP, GROUP_TITLE, admins=(ADMIN,))
    settings = Settings(
        LINZHANG_DATABASE_URL=SecretStr(str(store.url)),
        TELEGRAM_BOT_TOKEN=SecretStr(TOKEN),
        TELEGRAM_API_URL=url,
        LINZHANG_RUNTIME=runtime_name,
        LINZHANG_LANGUAGE=language,
    )
    runtime = Runtime(store, make_transport(runtime_name, TOKEN, url), settings)
    task = asyncio.create_task(runtime.run())
    show = Transcript(server, store, names, language, out)
    try:
        out(t("demo.header", language, runtime=runtime_name, url=url))
        show.person(RESIDENT, RESIDENT, f"/start {payload}")
        await server.send_text(RESIDENT, f"/start {payload}")
        [consent] = await show.bot_says(1)
        out(t("demo.press", language, name=names[RESIDENT], button=consent.buttons()[0]["text"]))
        await server.press(RESIDENT, consent, 0)
        [ask_name] = await show.bot_says(1)
        # 王秀英 lives with the householder 徐桂兰: she goes by her own name, chosen, not taken.
        await show.press(RESIDENT, ask_name, 1)

        show.person(ADMIN, GROUP, f"/bind {code}")
        await server.send_text(ADMIN, f"/bind {code}", GROUP)
        await show.bot_says(1)

        out(t("demo.join", language, name=names[NEWCOMER], title=GROUP_TITLE))
        await server.join(NEWCOMER, GROUP)
        await show.bot_says(1)

        show.person(RESIDENT, RESIDENT, "/me")
        await server.send_text(RESIDENT, "/me")
        await show.bot_says(1)

        await _request_walk_through(show)
        # The head's week before the election that may give the group another head.
        await week_walk_through(show, settings.zone, HEAD, SECRETARY, (RESIDENT, ADMIN))
        await election_walk_through(show, SECRETARY, RESIDENT, GROUP, ESTATE, settings.zone)
        out(t("demo.done", language, database=str(database)))
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()
        await store.dispose()


async def _request_walk_through(show: Transcript) -> None:
    """A request filed, escalated by the head, assigned by the secretary, resolved and rated."""
    [kinds] = await show.say(RESIDENT, "/request")
    await show.press(RESIDENT, kinds, 0)
    [confirm] = await show.say(RESIDENT, "1单元门口的路灯坏了一个星期，晚上老人出门不安全")
    await show.press(RESIDENT, confirm, len(confirm.buttons()) - 2)
    [card] = _last_to(show.server, HEAD)
    await show.press(HEAD, card, 0)
    [card] = _last_to(show.server, HEAD)
    await show.press(HEAD, card, 2)
    await show.say(HEAD, "路灯线路老化，需要物业更换")
    [decide] = _last_to(show.server, SECRETARY)
    [assign] = await show.press(SECRETARY, decide, 0)
    [by_when] = await show.press(SECRETARY, assign, list(Force).index(Force.PROPERTY))
    await show.press(SECRETARY, by_when, 1)
    [card] = _last_to(show.server, PROPERTY)
    await show.press(PROPERTY, card, 0)
    [card] = _last_to(show.server, PROPERTY)
    await show.press(PROPERTY, card, 1)
    await show.say(PROPERTY, "已更换灯头和线路，今晚起正常照明")
    [rating] = _last_to(show.server, RESIDENT)
    await show.press(RESIDENT, rating, 0)


def _last_to(server: BotApiServer, chat_id: int) -> list[Sent]:
    return server.sent_to(chat_id)[-1:]
