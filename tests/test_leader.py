"""One process leads each singular job; the next takes over when it lets go."""

from __future__ import annotations

import asyncio
from pathlib import Path

from models.leader import Leader
from models.store import Store


async def test_one_leader_per_job_and_a_successor(store: Store) -> None:
    other = Store(store.url)
    try:
        first, second = Leader(store, "sender"), Leader(other, "sender")
        assert await first.try_acquire()
        assert not await second.try_acquire()
        jobs = Leader(other, "jobs")
        assert await jobs.try_acquire()  # another job, another lock
        await jobs.release()
        await first.release()
        assert await second.try_acquire()
        assert not await first.try_acquire()
        await second.release()
    finally:
        await other.dispose()


async def test_one_leader_whatever_path_names_the_file(tmp_path: Path) -> None:
    real = tmp_path / "data" / "bot.db"
    real.parent.mkdir()
    (tmp_path / "link.db").symlink_to(real)
    (tmp_path / "folder").symlink_to(real.parent)
    names = [real, tmp_path / "link.db", tmp_path / "folder" / "bot.db"]
    stores = [Store(f"sqlite+aiosqlite:///{name}") for name in names]
    try:
        leaders = [Leader(store, "poll") for store in stores]
        assert await leaders[1].try_acquire()
        assert not await leaders[0].try_acquire()  # the real path
        assert not await leaders[2].try_acquire()  # a symlinked folder
        await leaders[1].release()
        assert await leaders[0].try_acquire()
        assert not await leaders[1].try_acquire()
        await leaders[0].release()
    finally:
        for store in stores:
            await store.dispose()


async def test_a_file_lock_is_never_lost_while_the_process_lives(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'lead.db'}")
    leader = Leader(store, "sender")
    assert await leader.try_acquire()
    watching = asyncio.create_task(leader.watch(0.01))
    # Many of its checks pass; a watch that ended would say the lead was lost.
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not watching.done()
    watching.cancel()
    await leader.release()
    await store.dispose()
