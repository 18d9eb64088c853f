"""A webhook in a process of its own, with few file descriptors (tests/chat/test_webhook_limits.py).

    python -m tests.chat.webhook_server DATABASE_URL FILE_LIMIT HEADER_TIMEOUT [MAX_CONNECTIONS]

It prints the port it listens on, logs as `linzhang run` does, and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import resource
import sys

from bot.logs import configure
from bot.webhook import listen, serve, webhook_app
from models.store import Store

SECRET = "s3cret_Webhook-token"
BOT_ID = 42


async def main(url: str, files: int, header_timeout: float, cap: int | None) -> None:
    """Serve the webhook under a file limit until the parent closes stdin."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))
    configure(secrets=(SECRET,))
    store = Store(url)
    sock = listen("127.0.0.1:0")
    app = webhook_app(store, BOT_ID, SECRET, lambda: None, "/hook")
    runner = await serve(app, sock, header_timeout=header_timeout, max_connections=cap)
    print(sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await store.dispose()


if __name__ == "__main__":
    cap = int(sys.argv[4]) if len(sys.argv) > 4 else None
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), cap))
