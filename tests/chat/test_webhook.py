"""The webhook: a wrong or missing secret is refused with 403 and nothing is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.ingress import SECRET_HEADER, webhook_app
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.store import Store

SECRET = "s3cret_Webhook-token"
UPDATE = {
    "update_id": 41,
    "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}},
}


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[tuple[str, Store, asyncio.Event]]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}")
    await upgrade(store)
    arrived = asyncio.Event()
    server = TestServer(webhook_app(store, 42, SECRET, arrived.set, "/hook"), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/hook")), store, arrived
    await server.close()
    await store.dispose()


async def _stored(store: Store) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxUpdate)) or 0)


async def test_wrong_or_missing_secret_is_refused(
    endpoint: tuple[str, Store, asyncio.Event],
) -> None:
    url, store, arrived = endpoint
    async with ClientSession() as client:
        for headers in ({}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: SECRET + "x"}):
            async with client.post(url, json=UPDATE, headers=headers) as response:
                assert response.status == 403
    assert await _stored(store) == 0
    assert not arrived.is_set()


async def test_right_secret_stores_once_then_answers(
    endpoint: tuple[str, Store, asyncio.Event],
) -> None:
    url, store, arrived = endpoint
    async with ClientSession() as client:
        for _ in range(2):  # Telegram repeats an update it got no 200 for; we store it once
            async with client.post(url, json=UPDATE, headers={SECRET_HEADER: SECRET}) as response:
                assert response.status == 200
        async with client.post(url, data=b"{not json", headers={SECRET_HEADER: SECRET}) as response:
            assert response.status == 400
    assert await _stored(store) == 1
    assert arrived.is_set()
    async with store.read() as session:
        row = await session.scalar(select(InboxUpdate))
    assert row is not None and row.bot_id == 42 and row.update_id == 41 and row.handled_at is None


@pytest.mark.parametrize("runtime_name", ["ptb", "aiogram"])
async def test_runtime_in_webhook_mode_answers(tmp_path: Path, runtime_name: str) -> None:
    """The server delivers by webhook with the secret; the bot registers a resident."""
    import socket

    from pydantic import SecretStr

    from bot.config import Settings
    from bot.runtime import Runtime, make_transport
    from bot.sandbox.server import BotApiServer
    from tests.chat.harness import BOT, RESIDENT, TOKEN, seed

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    server.add_user(RESIDENT, "张建国")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}")
    await upgrade(store)
    payloads, _ = await seed(store)
    settings = Settings(
        LINZHANG_DATABASE_URL=SecretStr(str(store.url)),
        TELEGRAM_BOT_TOKEN=SecretStr(TOKEN),
        TELEGRAM_API_URL=url,
        LINZHANG_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        LINZHANG_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        LINZHANG_WEBHOOK_SECRET=SecretStr(SECRET),
    )
    runtime = Runtime(store, make_transport(runtime_name, TOKEN, url), settings)
    task = asyncio.create_task(runtime.run(webhook=True))
    try:
        await server.send_text(RESIDENT, f"/start {payloads['101']}")
        [consent] = await server.wait_sent(RESIDENT, 1)
        assert "是否同意" in consent.text
        assert server.webhook_url == f"http://127.0.0.1:{port}/telegram"
        assert server.webhook_secret == SECRET
        assert not any(m.lower() == "getupdates" for _, m, _ in server.requests)
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()
        await store.dispose()
