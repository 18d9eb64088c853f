"""A message the bot keeps editing (a ballot's turnout) waits as one version at most."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from handlers.events import Reply
from handlers.outgoing import enqueue
from models import button
from models.base import utcnow
from models.outbox import OutboxMessage, next_per_chat
from models.store import Store

GROUP, OTHER_GROUP, VOTER = -100500, -100501, 501


def _turnout(chat: int, n: int, key: str = "election:1") -> Reply:
    return Reply(chat, f"已投 {n} / 50 户", is_group=True, edit_key=key)


async def _waiting(store: Store) -> list[tuple[int, str | None, str]]:
    async with store.read() as session:
        rows = await session.execute(
            select(OutboxMessage.chat_id, OutboxMessage.edit_key, OutboxMessage.params)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.superseded_at.is_(None),
            )
            .order_by(OutboxMessage.id)
        )
        return [(chat, key, params["text"]) for chat, key, params in rows]


async def test_many_edits_of_a_ballot_leave_one_waiting_with_the_newest_text(
    store: Store,
) -> None:
    async with store.write() as session:
        enqueue(session, [Reply(GROUP, "选举开始", is_group=True)], None)
        enqueue(session, [_turnout(OTHER_GROUP, 1)], None)
    for n in range(1, 31):  # one press a transaction
        async with store.write() as session:
            enqueue(session, [_turnout(GROUP, n)], VOTER)
    async with store.write() as session:  # a batch of presses in one transaction
        for n in range(31, 41):
            enqueue(session, [_turnout(GROUP, n)], VOTER)
        enqueue(session, [_turnout(GROUP, 1, key="election:2")], VOTER)
    assert await _waiting(store) == [
        (GROUP, None, "选举开始"),
        (OTHER_GROUP, "election:1", "已投 1 / 50 户"),
        (GROUP, "election:1", "已投 40 / 50 户"),
        (GROUP, "election:2", "已投 1 / 50 户"),
    ]
    async with store.read() as session:
        written = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.edit_key == "election:1").limit(1)
        )
        due = await next_per_chat(session, 10, utcnow())
    assert written is not None
    assert [(d.chat_id, d.params["text"]) for d in due] == [
        (GROUP, "选举开始"),
        (OTHER_GROUP, "已投 1 / 50 户"),
    ], "the group's own order holds: its first message goes first"


async def test_a_version_being_sent_is_recorded_and_the_newer_one_waits(store: Store) -> None:
    async with store.write() as session:
        enqueue(session, [_turnout(GROUP, 1)], None)
    async with store.read() as session:
        [first] = await next_per_chat(session, 10, utcnow())
    # While the sender has it in hand, a newer version is written.
    async with store.write() as session:
        enqueue(session, [_turnout(GROUP, 2)], None)
    async with store.write() as session:
        row = await session.get_one(OutboxMessage, first.id)
        row.sent_at, row.message_id = utcnow(), 77
    async with store.read() as session:
        [second] = await next_per_chat(session, 10, utcnow())
        first_row = await session.get_one(OutboxMessage, first.id)
    assert second.id != first.id and second.params["text"] == "已投 2 / 50 户"
    assert first_row.message_id == 77, "what later versions edit is known"


async def test_a_button_anyone_may_press_is_read_not_written(store: Store) -> None:
    async with store.write() as session:
        [token] = button.issue(session, button.ANYONE, GROUP, [("req.follow", {"id": 9})])
    written: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "SAVEPOINT")):
            written.append(statement)

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with store.write() as session:
            for user in (VOTER, VOTER + 1, VOTER):
                pressed = await button.redeem(session, token, user, GROUP)
                assert pressed is not None and pressed.action == "req.follow"
            assert await button.redeem(session, token, VOTER, OTHER_GROUP) is None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert written == []


async def test_answers_are_read_before_a_backlog_of_urgent_group_messages(store: Store) -> None:
    # Results of 300 group elections, each urgent to the voter who closed it, waiting out their
    # groups' limits; then a press's answer.
    async with store.write() as session:
        for n in range(300):
            enqueue(session, [Reply(GROUP - n, f"计票结果 {n}", is_group=True)], None, GROUP - n)
        press = Reply(GROUP, "回执码：ABC", callback_id="cb1", secret=True)
        enqueue(session, [press], VOTER, GROUP)
    async with store.read() as session:
        due = await next_per_chat(session, 200, utcnow())
    assert due[0].method == "answerCallbackQuery"
    assert len([d for d in due if d.method == "sendMessage"]) == 200
    async with store.read() as session:
        # Woken between full reads, the sender asks for the answers alone.
        quick = await next_per_chat(session, 200, utcnow(), pushes=False)
    assert [(d.method, d.chat_id) for d in quick] == [("answerCallbackQuery", GROUP)]
