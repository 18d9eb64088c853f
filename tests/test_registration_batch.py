"""Registrations handled in one batch read their cards and homes together, and a person's own
earlier update in the batch is seen by their next one."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.ptb_adapter import PtbTransport
from bot.sandbox.server import BotApiServer, Sent
from bot.worker import Worker
from handlers.context import Context
from models.contact_card import cards_for
from models.inbox import store_updates
from models.outbox import OutboxMessage
from models.registry import Household
from models.store import Store
from tests.registry_factory import make_estate

BOT_ID = 4242
ACTING, OTHER, STRANGER = 701, 702, 703
CTX = Context("LinzhangTestBot", "zh_CN", ZoneInfo("Asia/Shanghai"))


def _worker(store: Store) -> Worker:
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    return Worker(store, transport, CTX, asyncio.Event())


async def _said(store: Store, since: int) -> list[tuple[int, str, list[str]]]:
    """What the bot wrote after an outbox id: chat, text and callback data of its buttons."""
    async with store.read() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.id > since).order_by(OutboxMessage.id)
        )
        return [
            (
                m.chat_id,
                m.params.get("text", ""),
                [
                    b["callback_data"]
                    for row in m.params.get("reply_markup", {}).get("inline_keyboard", [])
                    for b in row
                ],
            )
            for m in rows
            if m.method == "sendMessage"
        ]


async def _last_id(store: Store) -> int:
    async with store.read() as session:
        return int(
            await session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc())) or 0
        )


async def test_a_persons_press_is_seen_by_their_next_update_in_the_same_batch(
    store: Store,
) -> None:
    async with store.write() as session:
        await make_estate(session)
        ids = list(await session.scalars(select(Household.id).order_by(Household.id)))
        issue = await cards_for(session, ids, "test")
    first, second = (issue.cards[i].payload for i in ids)
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")
    for user in (ACTING, OTHER, STRANGER):
        server.add_user(user, f"居民{user}")

    async def handle(updates: list[dict[str, object]]) -> None:
        async with store.write() as session:
            await store_updates(session, BOT_ID, [server.numbered(u) for u in updates])
        await _worker(store).run_once()

    await handle([server.text_message(ACTING, f"/start {first}")])
    [(_, _, [agree, _])] = await _said(store, 0)
    consent = Sent(ACTING, 1, "", None, "sendMessage", 0.0)
    mark = await _last_id(store)
    # One batch: the press binds ACTING, whose /start and /me come after it; OTHER and
    # STRANGER have nothing else in the batch.
    await handle(
        [
            server.button_press(ACTING, consent, data=agree),
            server.text_message(ACTING, f"/start {first}"),
            server.text_message(ACTING, "/me"),
            server.text_message(OTHER, f"/start {second}"),
            server.text_message(STRANGER, "/me"),
        ]
    )
    said: dict[int, list[str]] = {ACTING: [], OTHER: [], STRANGER: []}
    for chat, text, _ in await _said(store, mark):
        said[chat].append(text)
    registered, again, me = said[ACTING]
    assert registered.startswith("登记成功！")
    assert again.startswith("您已登记为") and "不用再登记" in again
    assert me.endswith("所在户：芙蓉花园1栋1单元101室")
    [asked] = said[OTHER]
    assert asked.startswith("您正在登记为") and "102" in asked
    assert said[STRANGER] == ["我们没有保存关于您的任何信息。扫描联系卡二维码即可登记。"]
