"""What the sender reads next: each chat's first waiting message, answers before pushes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from handlers.events import Reply
from handlers.outgoing import enqueue
from models.base import utcnow
from models.outbox import OutboxMessage, next_per_chat
from models.store import Store

# A resident who acted, two residents a notice reaches, and a group.
ACTOR, FIRST, SECOND, GROUP = 601, 602, 603, -100600


async def _write(store: Store, replies: list[Reply], answering: int | None = None) -> list[int]:
    """Enqueue replies in one transaction; return their outbox ids, in order."""
    async with store.write() as session:
        enqueue(session, replies, None, answering)
    async with store.read() as session:
        ids = await session.scalars(
            select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(len(replies))
        )
        return sorted(ids)


async def _due(store: Store, limit: int = 10, **kwargs: set[int]) -> list[tuple[int, str]]:
    async with store.read() as session:
        found = await next_per_chat(session, limit, utcnow(), **kwargs)
    return [(d.chat_id, d.params.get("text", "")) for d in found]


async def test_each_chat_offers_its_first_message_and_answers_go_first(store: Store) -> None:
    # A long history already sent comes before everything waiting.
    history = await _write(store, [Reply(ACTOR, f"旧消息 {n}") for n in range(300)])
    async with store.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(history))
            .values(sent_at=utcnow(), message_id=1)
        )
    await _write(store, [Reply(FIRST, "通知一"), Reply(FIRST, "通知二"), Reply(GROUP, "群通知")])
    await _write(store, [Reply(ACTOR, "您的回答"), Reply(ACTOR, "下一个问题")], answering=ACTOR)
    await _write(store, [Reply(SECOND, "通知三")])
    assert await _due(store) == [
        (ACTOR, "您的回答"),  # the answer to the person's own action, though written later
        (FIRST, "通知一"),
        (GROUP, "群通知"),
        (SECOND, "通知三"),
    ]
    assert await _due(store, limit=2) == [(ACTOR, "您的回答"), (FIRST, "通知一")]


async def test_a_chat_waits_behind_its_message_in_flight_or_put_back(store: Store) -> None:
    [first, _] = await _write(store, [Reply(FIRST, "通知一"), Reply(FIRST, "通知二")])
    [retried, _] = await _write(store, [Reply(SECOND, "通知三"), Reply(SECOND, "通知四")])
    async with store.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == retried)
            .values(not_before=utcnow() + timedelta(minutes=1), attempts=1)
        )
    # Being sent: nothing else of its chat; put back for later: its chat waits for it.
    assert await _due(store, flying={first}) == []
    # Sent, its mark still in the journal: the chat's next message is next.
    assert await _due(store, sent={first}) == [(FIRST, "通知二")]
