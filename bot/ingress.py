"""Ingress: updates are stored in the inbox before the server is told they arrived."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.transport import RetryAfter, Transient, Transport
from models.inbox import store_updates
from models.store import Store

log = logging.getLogger(__name__)

LONG_POLL = 25
# Waits after failed getUpdates: doubling from the first, never longer than the cap.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


async def poll(
    store: Store, transport: Transport, arrived: Callable[[], None], stop: asyncio.Event
) -> None:
    """Long-poll getUpdates; the next call's offset confirms only what is already stored.

    Nothing ends it but `stop` (or cancelling): whatever fails is logged and tried again after
    a pause, since a poller that ended would leave the process up and serving no one.
    """
    offset = 0
    failures = 0
    while not stop.is_set():
        try:
            offset = await _poll_once(store, transport, arrived, offset)
            failures = 0
            continue
        except RetryAfter as error:
            pause = error.seconds
        except (Transient, OSError) as error:
            failures += 1
            pause = _backoff(failures)
            log.warning("getUpdates failed: %s; retrying", error)
        except Exception:
            failures += 1
            pause = _backoff(failures)
            log.exception("polling failed; retrying")
        await asyncio.sleep(pause)


async def _poll_once(
    store: Store, transport: Transport, arrived: Callable[[], None], offset: int
) -> int:
    """Fetch one batch of updates and store it; return the offset that confirms it."""
    updates = await transport.get_updates(offset, LONG_POLL, 100)
    if not updates:
        return offset
    async with store.write() as session:
        await store_updates(session, transport.bot_id, updates)
    arrived()
    return max(int(u["update_id"]) for u in updates) + 1


def _backoff(failures: int) -> float:
    """How long to wait after this many failures in a row."""
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** min(failures - 1, 16))
