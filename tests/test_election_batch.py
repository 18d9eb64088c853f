"""Ballot presses handled in batches by the worker: each election's turnout counted once per
batch; an election marked complete by the batch whose vote was its last household's, closed
exactly once by the elections job moments later — the batch's presses are answered without
waiting for any count — and never again at the deadline."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

import scheduler.elections
from bot.ptb_adapter import PtbTransport
from bot.sandbox.server import BotApiServer, Sent
from bot.worker import Worker
from handlers.context import Context
from handlers.election_words import Speaker, post_ballot
from handlers.outgoing import enqueue
from models.audit import AuditEntry
from models.ballot import Ballot, Participation
from models.building_chat import BuildingChat
from models.election import Election, Phase
from models.inbox import store_updates
from models.outbox import OutboxMessage
from models.registry import Building
from models.store import Store
from scheduler.elections import run_elections
from tests.election_world import ROOMS, SECRETARY, ZONE, resident, voting, world

BOT_ID = 4242
CHAT = -100777
CTX = Context("LinzhangTestBot", "zh_CN", ZONE)


async def _ballots(
    store: Store, server: BotApiServer, members: int = 1
) -> dict[int, tuple[int, Sent]]:
    """Open and post both groups' elections: by unit, the election and its ballot as sent."""
    await world(store, members)
    async with store.write() as session:
        building = await session.scalar(select(Building))
        assert building is not None
        session.add(BuildingChat(chat_id=CHAT, building_id=building.id, bound_by=SECRETARY))
    server.add_group(CHAT, "芙蓉花园1栋业主群")
    for unit in (1, 2):
        for room in ROOMS:
            for member in range(1, members + 1):
                server.add_user(resident(unit, room, member), f"居民{unit}{room}")
    posted = {}
    for unit in (1, 2):
        election_id, _ = await voting(store, unit=unit, now=datetime.now(ZONE))
        async with store.write() as session:
            election = await session.get_one(Election, election_id)
            [ballot] = await post_ballot(session, election, Speaker(ZONE, "zh_CN"))
            enqueue(session, [ballot], None)
            markup = {
                "inline_keyboard": [
                    [{"text": label, "callback_data": f"t:{token}"}]
                    for label, token in election.ballot["buttons"]
                ]
            }
        posted[unit] = (election_id, Sent(CHAT, unit, ballot.text, markup, "sendMessage", 0.0))
    return posted


async def _press(
    store: Store, server: BotApiServer, presses: list[tuple[int, str, Sent]], member: int = 1
) -> None:
    """Store the presses (unit, room, ballot) as the ingress would, each for the first choice."""
    async with store.write() as session:
        updates = [
            server.numbered(server.button_press(resident(unit, room, member), ballot, 0))
            for unit, room, ballot in presses
        ]
        await store_updates(session, BOT_ID, updates)


async def test_one_household_in_one_batch_casts_once_and_its_others_are_told(
    store: Store,
) -> None:
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")
    posted = await _ballots(store, server, members=2)
    first, ballot = posted[1]
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    worker = Worker(store, transport, CTX, asyncio.Event())
    # 101 voted in an earlier batch.
    await _press(store, server, [(1, "101", ballot)])
    assert await worker.run_once() == 1
    # One batch: both members of 102, 101's second member, and 2单元101 (another group's roll).
    await _press(store, server, [(1, "102", ballot)])
    await _press(store, server, [(1, "102", ballot), (1, "101", ballot)], member=2)
    await _press(store, server, [(2, "101", ballot)])
    assert await worker.run_once() == 4
    async with store.read() as session:
        answers = list(
            await session.scalars(
                select(OutboxMessage.params)
                .where(OutboxMessage.method == "answerCallbackQuery")
                .order_by(OutboxMessage.id)
            )
        )
        households = await session.scalar(
            select(func.count()).where(Participation.election_id == first)
        )
        ballots = await session.scalar(select(func.count()).where(Ballot.election_id == first))
    # Blanked once sent; still waiting here, each says who it was for.
    texts = [str(params.get("text", "")) for params in answers]
    assert "回执码" in texts[0] and "回执码" in texts[1]
    assert texts[2:4] == ["本户已投票。", "本户已投票。"]
    assert "选民名册" in texts[4]
    assert households == ballots == 2
    assert await _turnout(store, first) == "已投 2 / 6 户，过半还需 2 户"


async def _turnout(store: Store, election_id: int) -> str:
    """The turnout line of the ballot's version waiting to be sent."""
    async with store.read() as session:
        [waiting] = await session.scalars(
            select(OutboxMessage.params).where(
                OutboxMessage.edit_key == f"election:{election_id}",
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.superseded_at.is_(None),
            )
        )
    return str(waiting["text"]).splitlines()[-1]


async def test_the_batch_that_completes_elections_marks_them_and_the_job_closes_them_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = BotApiServer("4242:TOKEN", "LinzhangTestBot")
    posted = await _ballots(store, server)
    (first, first_ballot), (second, second_ballot) = posted[1], posted[2]
    transport = PtbTransport("4242:TOKEN", "http://127.0.0.1:9")
    transport.username = "LinzhangTestBot"
    worker = Worker(store, transport, CTX, asyncio.Event())
    speaker = Speaker(ZONE, "zh_CN")

    # Five of the first group's six households: counted once, still open, not complete.
    await _press(store, server, [(1, room, first_ballot) for room in ROOMS[:5]])
    assert await worker.run_once() == 5
    assert (await _load(store, first)).completed_at is None
    assert await _turnout(store, first) == "已投 5 / 6 户，已过半"
    assert await run_elections(store, speaker) == 0

    # The first group's last household and the whole second group, in one batch: both
    # complete, answered and their turnout edited, but nothing counted yet.
    last = [(1, ROOMS[5], first_ballot)] + [(2, room, second_ballot) for room in ROOMS]
    await _press(store, server, last)
    assert await worker.run_once() == 7
    for election_id in (first, second):
        election = await _load(store, election_id)
        assert election.phase == Phase.VOTING and election.completed_at is not None
        assert election.result is None
    async with store.read() as session:
        answers = select(func.count()).where(
            OutboxMessage.method == "answerCallbackQuery", OutboxMessage.secret.is_(True)
        )
        assert await session.scalar(answers) == 12
        assert not await session.scalar(
            select(func.count()).where(
                OutboxMessage.params["text"].as_string().contains("计票结果")
            )
        )

    # The elections job closes both, well before the deadline; one at a time here, and while
    # someone's update waits for the worker, one a run.
    monkeypatch.setattr(scheduler.elections, "BATCH", 1)
    await _press(store, server, [(1, ROOMS[0], first_ballot)])
    assert await run_elections(store, speaker) == 1
    assert await worker.run_once() == 1
    assert await run_elections(store, speaker) == 1
    for election_id in (first, second):
        election = await _load(store, election_id)
        assert election.phase == Phase.CLOSED
        assert election.result is not None and election.result["voted"] == 6
    async with store.read() as session:
        said = [
            (m.chat_id, str(m.params.get("text", "")))
            for m in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
        closes = await session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "election.close")
        )
        assert list(closes) == ["system:all_voted", "system:all_voted"]
        # Each result to the building group once, each checkable list once (one building),
        # the secretary asked to confirm each once.
        group = [text for chat, text in said if chat == CHAT]
        assert sum("计票结果" in text for text in group) == 2
        assert sum("公开核对名单" in text for text in group) == 2
        assert sum("请确认" in text for chat, text in said if chat == SECRETARY) == 2
    assert await _turnout(store, second) == "已投 6 / 6 户，已过半"

    # The deadline passes: nothing is closed again.
    ends = (await _load(store, second)).voting_ends
    assert ends is not None
    assert await run_elections(store, speaker, ends + timedelta(seconds=1)) == 0
    async with store.read() as session:
        closes_after = await session.scalar(
            select(func.count()).where(AuditEntry.action == "election.close")
        )
    assert closes_after == 2


async def _load(store: Store, election_id: int) -> Election:
    async with store.read() as session:
        return await session.get_one(Election, election_id)
