"""The webhook: a wrong secret is refused with 403, a malformed update with 400, and neither is
written; a body that does not arrive in time is answered 408 and its connection closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.webhook import SECRET_HEADER, webhook_app
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.store import Store

SECRET = "s3cret_Webhook-token"
# How long the endpoint waits for a body in these tests (10 s in the bot).
BODY_TIMEOUT = 0.5
UPDATE = {
    "update_id": 41,
    "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}},
}


@pytest.fixture
async def endpoint(store: Store) -> AsyncIterator[tuple[str, Store, asyncio.Event]]:
    """The webhook on SQLite, then on PostgreSQL when TEST_DATABASE_URL is set."""
    arrived = asyncio.Event()
    app = webhook_app(store, 42, SECRET, arrived.set, "/hook", body_timeout=BODY_TIMEOUT)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/hook")), store, arrived
    await server.close()


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


# Bodies Telegram never sends: each is answered 400, nothing is stored, no traceback is logged.
MALFORMED: dict[str, bytes] = {
    "id beyond 64 bits": b'{"update_id": %d}' % 2**70,
    "id beyond BigInteger": b'{"update_id": %d}' % 2**63,
    "negative id": b'{"update_id": -1}',
    "fractional id": b'{"update_id": 1.5}',
    "id written as a float": b'{"update_id": 41.0}',
    "id in exponent form": b'{"update_id": 1e3}',
    "id true": b'{"update_id": true}',
    "id as a string": b'{"update_id": "41"}',
    "id null": b'{"update_id": null}',
    "no id": b'{"message": {}}',
    "a list": b'[{"update_id": 41}]',
    "a number": b"41",
    "null": b"null",
    "empty": b"",
    "NaN inside": b'{"update_id": 41, "x": NaN}',
    "not UTF-8": b'{"update_id": 41, "x": "\xff"}',
    "nested beyond the parser": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_update_is_refused_and_not_stored(
    endpoint: tuple[str, Store, asyncio.Event], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url, store, arrived = endpoint
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with ClientSession() as client, client.post(url, data=body, headers=headers) as response:
        assert response.status == 400
    assert await _stored(store) == 0
    assert not arrived.is_set()
    assert not [r for r in caplog.records if r.exc_info], caplog.text


@pytest.mark.parametrize("update_id", [0, 2**31, 2**63 - 1])
async def test_update_ids_at_the_bounds_are_stored_exactly(
    endpoint: tuple[str, Store, asyncio.Event], update_id: int
) -> None:
    url, store, _ = endpoint
    update: dict[str, Any] = {**UPDATE, "update_id": update_id}
    async with (
        ClientSession() as client,
        client.post(url, data=json.dumps(update), headers={SECRET_HEADER: SECRET}) as response,
    ):
        assert response.status == 200
    async with store.read() as session:
        row = await session.scalar(select(InboxUpdate))
    assert row is not None and row.update_id == update_id and row.payload == update


async def test_body_that_stalls_is_answered_408_and_closed(
    endpoint: tuple[str, Store, asyncio.Event],
) -> None:
    """Headers in full, then ten bytes of a hundred: the server gives up, the client hears why."""
    url, store, arrived = endpoint
    host, port = url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /hook HTTP/1.1\r\nHost: {host}\r\n{SECRET_HEADER}: {SECRET}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(head.encode() + b'{"update_')
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), 30)  # until the server closes
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert await _stored(store) == 0
    assert not arrived.is_set()


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
        # The webhook's server answers for the process's health too.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert (await response.json())["database"] == "ok"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert "linzhang_updates_handled_total" in await response.text()
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()
        await store.dispose()
