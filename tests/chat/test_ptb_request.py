"""python-telegram-bot over the project's aiohttp request: text, files, timeouts, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.ptb_request import AiohttpRequest
from bot.sandbox.server import BotApiServer, Fault
from tests.chat.harness import BOT, TOKEN

USER = 4001


@pytest.fixture
async def served() -> AsyncIterator[tuple[BotApiServer, Bot]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    server.add_user(USER, "居民")
    bot = Bot(TOKEN, base_url=f"{url}/bot", request=AiohttpRequest(read_timeout=0.5))
    async with bot:
        yield server, bot
    await server.stop()


async def test_text_buttons_and_a_document_arrive(served: tuple[BotApiServer, Bot]) -> None:
    server, bot = served
    assert (await bot.get_me()).username == BOT
    await bot.send_message(
        USER, "你好", reply_markup={"inline_keyboard": [[{"text": "好", "callback_data": "t:x"}]]}
    )
    await bot.send_document(USER, document=b"%PDF-1.4 card", filename="card.pdf", caption="联系卡")
    texts = [(s.method, s.text) for s in server.sent_to(USER)]
    assert texts == [("sendMessage", "你好"), ("sendDocument", "联系卡")]
    assert server.sent_to(USER)[0].buttons() == [{"text": "好", "callback_data": "t:x"}]


async def test_refusals_timeouts_and_drops_become_ptb_errors(
    served: tuple[BotApiServer, Bot],
) -> None:
    server, bot = served
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(99999, "nobody")
    server.faults.append(Fault("slow", "sendMessage", seconds=2))
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow")
    server.faults.append(Fault("drop", "sendMessage"))
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "dropped")
    await bot.send_message(USER, "again")
    assert [s.text for s in server.sent_to(USER)][-1] == "again"
