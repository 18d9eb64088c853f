"""/healthz and /metrics of a running bot, and logs as JSON lines."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.health import add_health
from bot.logs import configure
from models.store import Store
from tests.chat.harness import RESIDENT, running_bot


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _answering(base: str) -> None:
    """Wait until the bot's health endpoint accepts connections (it starts after the worker)."""
    async with asyncio.timeout(10):
        while True:
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz"):
                    return
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)


async def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        assert response.status == 200
        body = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_a_polling_bot_reports_its_health_and_counts(tmp_path: Path, runtime: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_bot(runtime, tmp_path, health=f"127.0.0.1:{port}") as bot:
        await bot.settle()
        await _answering(base)
        before = await _scrape(base)
        await bot.say(RESIDENT, "/help")
        await bot.settle()
        after = await _scrape(base)
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            health = await response.json()
            assert response.status == 200

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("linzhang_updates_handled_total", outcome="handled") >= 1
    assert grew("linzhang_update_handle_seconds_count") >= 1
    assert grew("linzhang_sends_total", method="sendMessage", outcome="sent") >= 1
    assert after[("linzhang_leader", (("job", "sender"),))] == 1
    assert after[("linzhang_outbox_depth", ())] == 0
    assert health["status"] == "ok" and {"sender", "poll", "jobs"} <= set(health["leads"])


async def test_health_says_down_when_the_database_does_not_answer() -> None:
    # Nothing listens on port 1: every connection is refused.
    store = Store("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    app = web.Application()
    add_health(app, store)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {"status": "down", "database": "down"}
    await store.dispose()


def test_logs_as_json_lines_keep_secrets_out(capfd: pytest.CaptureFixture[str]) -> None:
    token = "123456789:SECRETtokenValue_abcdef"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(secrets=(token,), as_json=True)
        logging.getLogger("linzhang.test").warning("calling %s for 13812345678", token)
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    [line] = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "linzhang.test"
    assert token not in line and "13812345678" not in line
    assert entry["message"].startswith("calling ***")
