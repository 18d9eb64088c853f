"""Answers that are not the Bot API's: polling and sending go on, each failure one log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.ingress
from bot.runtime import make_transport
from bot.sandbox.server import BotApiServer, Fault
from bot.sender import Sender, SendLimits
from bot.transport import Transport
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.migrate import upgrade
from models.store import Store
from tests.chat.harness import BOT, RESIDENT, TOKEN, running_bot, seed
from tests.chat.sending import drain

RUNTIMES = ["ptb", "aiogram"]
# Another poller (409), a proxy's page with 200, a proxy's page with 502.
FAULTS = {"409": "409", "html200": "200", "html502": "502"}
CHATS = (501, 502, 503)
GROUP = -100700
FAST = SendLimits(overall_per_second=1000, group_per_minute=1000, chat_per_second=1000)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that carry a traceback or span several lines."""
    return [r for r in caplog.records if r.exc_info or "\n" in r.getMessage()]


@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_polling_goes_on_after_unexpected_answers(
    runtime: str,
    kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.ingress, "FIRST_BACKOFF", 0.01, raising=False)
    caplog.set_level(logging.WARNING)

    async def faulty(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
        # The first three getUpdates of the bot's life are answered with the fault.
        server.faults.extend(Fault(kind, "getUpdates") for _ in range(3))
        return await seed(store)

    async with running_bot(runtime, tmp_path, seeder=faulty) as harness:
        [reply] = await harness.say(RESIDENT, "/help")
        assert "/me" in reply.text
        assert not harness.server.faults

    failures = [r for r in caplog.records if r.name == "bot.ingress"]
    assert len(failures) == 3, [r.getMessage() for r in failures]
    for record in failures:
        line = record.getMessage()
        assert record.levelno == logging.WARNING
        assert "getUpdates" in line and FAULTS[kind] in line, line
    assert _tracebacks(caplog) == []


@pytest.fixture(params=RUNTIMES)
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BotApiServer, Store, Transport]]:
    server = BotApiServer(TOKEN, BOT)
    url = await server.start()
    for chat in CHATS:
        server.add_user(chat, f"user{chat}")
    server.add_group(GROUP, "楼栋群")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}")
    await upgrade(store)
    transport = make_transport(request.param, TOKEN, url)
    await transport.start()
    yield server, store, transport
    await transport.stop()
    await server.stop()
    await store.dispose()


async def test_sends_answered_by_a_proxy_page_are_retried(
    served: tuple[BotApiServer, Store, Transport], caplog: pytest.LogCaptureFixture
) -> None:
    server, store, transport = served
    caplog.set_level(logging.WARNING)
    async with store.write() as session:
        replies = [Reply(chat, f"{chat}-{n}") for n in range(2) for chat in CHATS]
        replies += [Reply(GROUP, "group-0", is_group=True)]
        enqueue(session, replies, None)
    server.faults.extend(
        [
            Fault("html200", "sendMessage"),
            Fault("html502", "sendMessage"),
            Fault("html502", "sendMessage"),
        ]
    )

    rows = await drain(Sender(store, transport, FAST), store)

    for chat in CHATS:
        assert [s.text for s in server.sent_to(chat)] == [f"{chat}-0", f"{chat}-1"]
    assert [s.text for s in server.sent_to(GROUP)] == ["group-0"]
    assert all(r.sent_at and not r.failed_at for r in rows)
    # Each refused send counted as an attempt of its message, not as a failure.
    assert sum(r.attempts for r in rows) == 3
    failures = [r for r in caplog.records if r.name == "bot.sender"]
    assert len(failures) == 3, [r.getMessage() for r in failures]
    for record, status in zip(failures, ("200", "502", "502"), strict=True):
        line = record.getMessage()
        assert "sendMessage" in line and status in line, line
    assert _tracebacks(caplog) == []
