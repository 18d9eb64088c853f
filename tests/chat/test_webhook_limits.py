"""The webhook under connections that never finish: real deliveries still get through, the
stalled connections are closed, and running out of file descriptors does not flood the log."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout
from sqlalchemy import select

from bot.webhook import SECRET_HEADER, listen, serve, webhook_app
from models.inbox import InboxUpdate
from models.migrate import upgrade
from models.store import Store
from tests.chat.webhook_server import SECRET

ROOT = Path(__file__).resolve().parents[2]
STALL = b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
# Generous: these bound waits for events, they are not what the tests measure.
PATIENCE = 60


@dataclass
class Child:
    port: int
    store: Store
    process: asyncio.subprocess.Process
    log: Path


@asynccontextmanager
async def webhook_process(
    tmp_path: Path, files: int, header_timeout: float, cap: int | None = None
) -> AsyncIterator[Child]:
    """Run tests/chat/webhook_server.py with a file limit; stop it on leaving."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}")
    await upgrade(store)
    log = tmp_path / "webhook.log"
    args = [str(store.url), str(files), str(header_timeout)] + ([str(cap)] if cap else [])
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.chat.webhook_server",
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdin is not None and process.stdout is not None
    try:
        port = int(await asyncio.wait_for(process.stdout.readline(), PATIENCE))
        yield Child(port, store, process, log)
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), PATIENCE)
        except TimeoutError:
            process.kill()
        await store.dispose()


async def stall(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """Open connections that send half a request's headers and then nothing."""
    stalled = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(STALL)
        stalled.append((reader, writer))
    return stalled


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Wait until the server closes the connection; True unless it sent a response first."""
    try:
        return await asyncio.wait_for(reader.read(), PATIENCE) == b""
    except ConnectionResetError:
        return True


async def deliver(port: int, update_id: int) -> int:
    """Post an update as Telegram does; return the status."""
    url = f"http://127.0.0.1:{port}/hook"
    update = {"update_id": update_id, "message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}
    async with (
        ClientSession(timeout=ClientTimeout(total=PATIENCE)) as client,
        client.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response,
    ):
        return response.status


async def stored_ids(store: Store) -> list[int]:
    async with store.read() as session:
        return list(await session.scalars(select(InboxUpdate.update_id)))


async def test_stalled_connections_leave_room_for_a_delivery(tmp_path: Path) -> None:
    """300 stalled connections against 256 descriptors (1,024 in production against 1,100).

    The delivery is answered and stored, and every stalled connection is closed by the server:
    the oldest to make room, the rest when their header time runs out.
    """
    async with webhook_process(tmp_path, files=256, header_timeout=3) as child:
        stalled = await stall(child.port, 300)
        try:
            assert await deliver(child.port, 7) == 200
            assert await stored_ids(child.store) == [7]
            closed = await asyncio.gather(*(closed_by_server(r) for r, _ in stalled))
            assert all(closed)
        finally:
            for _, writer in stalled:
                writer.close()
    assert b"Traceback" not in child.log.read_bytes()


async def test_out_of_descriptors_the_log_stays_short(tmp_path: Path) -> None:
    """With the cap set above the file limit, accepting fails; it is logged, not repeated."""
    async with webhook_process(tmp_path, files=64, header_timeout=PATIENCE, cap=1000) as child:
        stalled = await stall(child.port, 100)
        try:
            await asyncio.sleep(3)  # a window for the log to fill in, as it did at 2.5 MB a second
        finally:
            for _, writer in stalled:
                writer.close()
        # Descriptors are free again: the server takes connections once more.
        assert await deliver(child.port, 8) == 200
        assert await stored_ids(child.store) == [8]
    # A line a second at most (and one, with the repeat filter), where it was thousands.
    assert child.log.read_bytes().count(b"Too many open files") <= 10


async def test_a_kept_alive_connection_is_served_then_closed_when_idle(tmp_path: Path) -> None:
    """The header clock stops for each request and starts again after it; cleanup stops it all."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}")
    await upgrade(store)
    sock = listen("127.0.0.1:0")
    port = sock.getsockname()[1]
    app = webhook_app(store, 42, SECRET, lambda: None, "/hook")
    runner = await serve(app, sock, header_timeout=1)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for update_id in (1, 2, 3):
            body = json.dumps({"update_id": update_id}).encode()
            writer.write(
                b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (SECRET_HEADER.encode(), SECRET.encode(), len(body), body)
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
            assert head.startswith(b"HTTP/1.1 200")
        assert await closed_by_server(reader)
        writer.close()
        assert await stored_ids(store) == [1, 2, 3]
    finally:
        await runner.cleanup()
        await store.dispose()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
