"""One process leads each singular job; the next takes over when it lets go."""

from __future__ import annotations

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
