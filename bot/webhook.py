"""The webhook: an update is committed to the inbox before Telegram hears 200, and connections
that are slow or idle are closed before they can crowd out Telegram's."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from models.inbox import store_updates
from models.store import Store

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's update ids fit 32 bits; the inbox keeps them in a signed 64-bit column.
MAX_UPDATE_ID = 2**63 - 1
MAX_BODY = 1024 * 1024
# Telegram (or the proxy in front) sends a request's headers at once: a connection gets this
# long to send them after it opens or after its last response, idle keep-alive time included.
HEADER_TIMEOUT = 10.0
# The body comes with the headers too; a proxy buffers it before it connects.
BODY_TIMEOUT = 10.0
# Telegram opens at most 100 connections at once (setWebhook's max_connections, 40 by default).
MAX_CONNECTIONS = 256
LISTEN_BACKLOG = 128
# Out of file descriptors, stop accepting this long rather than retry at once.
ACCEPT_PAUSE = 1.0


def webhook_app(
    store: Store,
    bot_id: int,
    secret: str,
    arrived: Callable[[], None],
    path: str = "/",
    *,
    body_timeout: float = BODY_TIMEOUT,
) -> web.Application:
    """Build an HTTP endpoint that answers 200 only once the update is committed to the inbox."""

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403)
        try:
            async with asyncio.timeout(body_timeout):
                body = await request.read()
        except TimeoutError:
            response = web.Response(status=408)
            response.force_close()
            return response
        update = parse_update(body)
        if update is None:
            return web.Response(status=400)
        async with store.write() as session:
            await store_updates(session, bot_id, [update])
        arrived()
        return web.Response(status=200)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, receive)
    return app


def parse_update(body: bytes) -> dict[str, Any] | None:
    """Return the update a body holds, or None unless it is a JSON object with a valid id."""
    try:
        update = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # Not JSON or not UTF-8 (both ValueError), NaN, or nested deeper than the parser goes.
        return None
    if not isinstance(update, dict):
        return None
    update_id = update.get("update_id")
    # True is an int to Python, and 41.0 or 1e3 are floats: Telegram sends neither.
    if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:
        return None
    return update


def _refuse_constant(name: str) -> Any:
    """Refuse NaN and Infinity: JSON has neither, and PostgreSQL's json type refuses them."""
    raise ValueError(f"{name} is not JSON")


def listen(address: str) -> socket.socket:
    """Open a listening socket on `host:port` (`[::1]:8443` for IPv6; no host is 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, int(port)), family=family, backlog=LISTEN_BACKLOG)


async def serve(
    app: web.Application,
    sock: socket.socket,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int | None = None,
) -> web.AppRunner:
    """Serve the app on a listening socket behind a guard; the runner's cleanup() stops it."""
    guard = Guard(max_connections or connection_cap(), header_timeout)
    app.middlewares.append(guard.middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await _GuardedSite(runner, sock, guard).start()
    return runner


def connection_cap() -> int:
    """Allow at most half the process's file descriptors: the database and the rest need theirs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft // 2))


class Guard:
    """The open connections; those waiting for a request's headers are on a clock.

    At the cap, a new connection closes the one that has waited longest for headers: Telegram
    and a proxy send theirs at once, so the longest waiting is an idle keep-alive connection
    or one stalling on purpose, and a stalled flood cannot keep a real delivery out unless it
    opens `cap` connections in the time the delivery takes to send its headers. Only when
    every connection is inside a request is the new one refused at once: a request without
    the secret is answered straight away, so that takes `cap` deliveries being stored.
    """

    def __init__(self, cap: int, header_timeout: float) -> None:
        self.cap = cap
        self.header_timeout = header_timeout
        self.open: set[asyncio.BaseTransport] = set()
        # Oldest first: a dict keeps the order connections started waiting in.
        self.waiting: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Take a new connection, making room if need be; False if there is none to make."""
        if len(self.open) >= self.cap:
            if not self.waiting:
                return False
            self.cut(next(iter(self.waiting)))
        self.open.add(transport)
        self.wait(transport)
        return True

    def wait(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock on a connection's next request headers."""
        self.stop_clock(transport)
        loop = asyncio.get_running_loop()
        self.waiting[transport] = loop.call_later(self.header_timeout, self.cut, transport)

    def stop_clock(self, transport: asyncio.BaseTransport) -> None:
        """Stop the clock on a connection whose request has arrived or which has gone."""
        timer = self.waiting.pop(transport, None)
        if timer is not None:
            timer.cancel()

    def forget(self, transport: asyncio.BaseTransport) -> None:
        """Drop a closed connection from the count."""
        self.stop_clock(transport)
        self.open.discard(transport)

    def cut(self, transport: asyncio.BaseTransport) -> None:
        """Close a connection now."""
        self.forget(transport)
        _abort(transport)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Stop a connection's header clock while its request is handled; restart it after."""
        transport = request.transport
        if transport is None:
            return await handler(request)
        self.stop_clock(transport)
        try:
            return await handler(request)
        finally:
            if transport in self.open:
                self.wait(transport)


class _Watched(asyncio.Protocol):
    """aiohttp's protocol for one connection, let in and counted by the guard."""

    def __init__(self, guard: Guard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.guard.admit(transport):
            self.transport = transport
            self.inner.connection_made(transport)
        else:
            _abort(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.guard.forget(self.transport)
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.transport is not None else None

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def _abort(transport: asyncio.BaseTransport) -> None:
    """Close a connection without flushing: a client that does not read would stall a close."""
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()


class _GuardedSite(web.BaseSite):
    """A listening socket whose connections are accepted one at a time, through the guard."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, guard: Guard) -> None:
        super().__init__(runner)
        assert runner.server is not None
        self.server = runner.server
        self.sock = sock
        self.guard = guard
        self.accepting: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        self.sock.setblocking(False)
        self.accepting = asyncio.create_task(self._accept(), name="webhook accept")

    async def stop(self) -> None:
        if self.accepting is not None:
            self.accepting.cancel()
            await asyncio.gather(self.accepting, return_exceptions=True)
        self.sock.close()
        await super().stop()

    async def _accept(self) -> None:
        """Accept connections; out of file descriptors, pause instead of retrying at once."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except ConnectionAbortedError:
                continue
            except OSError as error:
                # asyncio's own accept loop retries such a failure many times a second, logging
                # each (CPython gh-151615): megabytes of log a second while the descriptors last.
                log.error("webhook cannot accept connections (%s); pausing", error)
                await asyncio.sleep(ACCEPT_PAUSE)
                continue
            try:
                await loop.connect_accepted_socket(self._protocol, conn)
            except OSError:
                conn.close()

    def _protocol(self) -> asyncio.Protocol:
        return _Watched(self.guard, self.server())
