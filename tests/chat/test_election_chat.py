"""An election end to end through the real runtimes: nomination, the group ballot with its
live turnout, refused presses, /vote, the early close, confirmation, the term; and secrecy:
nothing stored joins a ballot to a household."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import DateTime, func, inspect, select, text

from bot.sandbox.server import BotApiServer, Sent
from handlers.election_words import Speaker
from models.audit import AuditEntry
from models.ballot import Ballot, Participation
from models.building_chat import BuildingChat
from models.button import ButtonToken
from models.election import Election, Phase
from models.inbox import InboxUpdate
from models.outbox import OutboxMessage
from models.registry import Building
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind
from models.store import Store
from scheduler.elections import run_elections
from tests.chat.harness import GROUP, STRANGER, Harness, running_bot
from tests.election_world import ROOMS, SECRETARY, ZONE, build, resident
from texts import t

TWIN = resident(1, "101", 2)  # the second member of 1单元101室
OUTSIDER = resident(2, "101")  # a resident of the other neighbour group
BUTTON_INVALID = t("chat.button_invalid")


async def seed(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
    async with store.write() as session:
        await build(session, members=2)
        building = await session.scalar(select(Building))
        assert building is not None
        session.add(BuildingChat(chat_id=GROUP, building_id=building.id, bound_by=SECRETARY))
    for unit in (1, 2):
        for room in ROOMS:
            for member in (1, 2):
                server.add_user(resident(unit, room, member), f"居民{unit}{room}")
    server.add_user(SECRETARY, "赵书记")
    server.add_user(STRANGER, "Stranger", "en")
    server.add_group(GROUP, "芙蓉花园1栋业主群", admins=(SECRETARY,))
    return {}, ""


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path, seeder=seed) as harness:
        yield harness


async def _toast(bot: Harness, user: int, message: Sent, index: int) -> dict[str, object]:
    """Press a button and return the answer only the presser sees."""
    before = len(bot.server.callback_answers)
    await bot.server.press(user, message, index)
    await bot.server.wait_callback_answers(before + 1)
    return bot.server.callback_answers[before]


def _ballot(bot: Harness) -> Sent:
    """The group's ballot as it stands now (edited in place)."""
    return [m for m in bot.server.sent_to(GROUP) if "一户一票" in m.text and m.buttons()][-1]


async def test_an_election_in_the_building_group(bot: Harness) -> None:
    [opened] = await bot.say(SECRETARY, "/election", GROUP)
    assert "邻长选举开始" in opened.text and "提名截止" in opened.text
    for room in ("101", "102"):
        [reply] = await bot.say(resident(1, room), "/nominate 党员 愿为邻里服务")
        assert "已报名参选邻长（党员）" in reply.text
    [status] = await bot.say(SECRETARY, "/election", GROUP)
    assert "提名中" in status.text
    assert [b["text"] for b in status.buttons()] == ["确认候选人·1单元", "确认候选人·2单元"]
    announced, ballot = await bot.press(SECRETARY, status, 0, count=2)
    assert "选民名册共 6 户" in announced.text
    assert "居民1101（党员）：愿为邻里服务" in ballot.text
    assert "已投 0 / 6 户，过半还需 4 户" in ballot.text
    assert [b["text"] for b in ballot.buttons()] == ["居民1101", "居民1102", "弃权"]

    first = await _toast(bot, resident(1, "101"), ballot, 0)
    assert str(first["show_alert"]).lower() == "true" and "回执码" in str(first["text"])
    receipt = str(first["text"]).split("回执码：")[1].split("\n")[0]
    await bot.server.wait_until(lambda: "已投 1 / 6 户" in _ballot(bot).text)
    assert "居民1101 1" not in _ballot(bot).text  # turnout only, never counts per candidate

    # Refused, each with a reason only the presser sees, nothing written.
    assert (await _toast(bot, TWIN, ballot, 1))["text"] == "本户已投票。"
    assert "选民名册" in str((await _toast(bot, OUTSIDER, ballot, 1))["text"])
    assert "roll" in str((await _toast(bot, STRANGER, ballot, 1))["text"])
    before = len(bot.server.callback_answers)
    await bot.server.press(resident(1, "102"), ballot, data="t:forgedtoken1234")
    await bot.server.wait_callback_answers(before + 1)
    assert bot.server.callback_answers[before]["text"] == BUTTON_INVALID
    await bot.settle()
    async with bot.store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ballot)) == 1

    # /vote in private, then the rest in the group: all six voted, the elections job closes
    # it within seconds, not at the deadline two working days on.
    [private] = await bot.say(resident(1, "102"), "/vote")
    assert [b["text"] for b in private.buttons()] == ["居民1101", "居民1102", "弃权"]
    await _toast(bot, resident(1, "102"), private, 1)
    for room, choice in zip(ROOMS[2:], (0, 0, 0, 2), strict=True):
        await _toast(bot, resident(1, room), ballot, choice)
    await bot.server.wait_until(
        lambda: any("公开核对名单" in m.text for m in bot.server.sent_to(GROUP)), timeout=30
    )
    await bot.settle()
    texts = [m.text for m in bot.server.sent_to(GROUP)]
    [result] = [t for t in texts if "计票结果" in t]
    assert "应投 6 户，实投 6 户" in result and "居民1101 得 4 票" in result
    assert "居民1101 4 票、居民1102 1 票、弃权 1 票" in result
    [listed] = [t for t in texts if "公开核对名单" in t]
    assert receipt in listed and len(listed.splitlines()) == 8  # head, totals, 6 ballots

    [checked] = await bot.say(resident(1, "101"), f"/receipt {receipt}")
    assert "计为：居民1101" in checked.text

    [prompt] = [m for m in bot.server.sent_to(SECRETARY) if "请确认" in m.text]
    [confirmed, published] = await bot.press(SECRETARY, prompt, 0, count=1) + [
        (await bot.server.wait_sent(GROUP, len(texts) + 1))[-1]
    ]
    assert "已确认" in confirmed.text and "公示" in published.text

    # Publication over: the job starts the term; the new head is welcomed with the four duties.
    async with bot.store.read() as session:
        election = await session.scalar(select(Election).where(Election.phase == "publication"))
        assert election is not None and election.publication_ends is not None
        ends, group_id = election.publication_ends, election.group_id
    await run_elections(bot.store, Speaker(ZONE, "zh_CN"), ends + timedelta(seconds=1))
    # After "nominated" and the /receipt answer, the welcome.
    welcome = (await bot.server.wait_sent(resident(1, "101"), 3))[-1]
    assert "祝贺您当选芙蓉花园1栋1单元邻长" in welcome.text and "四员职责" in welcome.text
    async with bot.store.read() as session:
        heads = await live_assignments(
            session, scope=Scope(ScopeKind.GROUP, group_id, ""), role=Role.NEIGHBOUR_HEAD
        )
        assert [h.user_id for h in heads] == [resident(1, "101")]
        phase = await session.scalar(select(Election.phase).where(Election.id == election.id))
        assert phase == Phase.TERM_STARTED

    await bot.settle()  # every message sent is marked so in the database, secrets blanked
    await _nothing_joins_a_ballot_to_a_household(bot.store)


async def _nothing_joins_a_ballot_to_a_household(store: Store) -> None:
    """Read the schema and every stored row an election leaves, as a database reader would."""
    ballot = inspect(Ballot).local_table
    participation = inspect(Participation).local_table
    # No shared key but the election, no time, the receipt as the only identity.
    assert {c.name for c in ballot.columns} == {"receipt", "election_id", "choice"}
    assert {c.name for c in participation.columns} == {"election_id", "household_id", "channel"}
    assert [c.name for c in ballot.primary_key] == ["receipt"]
    for table in (ballot, participation):
        assert not [c for c in table.columns if isinstance(c.type, DateTime)]
    async with store.read() as session:
        ballots = list(await session.execute(select(Ballot.receipt, Ballot.choice)))
        receipts = {r for r, _ in ballots}
        # Storage order says nothing: on SQLite the table has no rowid, so it is receipt order.
        if store.sqlite:
            stored = list(await session.scalars(text("SELECT receipt FROM election_ballot")))
            assert stored == sorted(stored)
        # Audit: a vote says the household voted, never the choice or the receipt.
        for entry in await session.scalars(select(AuditEntry)):
            words = f"{entry.before} {entry.after}"
            assert not any(r in words for r in receipts)
            if entry.action == "election.vote":
                assert set(entry.after or {}) == {"household", "channel"}
        # The inbox keeps no ballot press: handled presses are blanked.
        for payload in await session.scalars(select(InboxUpdate.payload)):
            data = (payload.get("callback_query") or {}).get("data", "")
            tokens = await session.scalars(
                select(ButtonToken.action).where(ButtonToken.token == data.removeprefix("t:"))
            )
            assert "election.cast" not in list(tokens)
        # Nothing sent to a person keeps a receipt once sent (the group's published list names
        # no one).
        personal = select(OutboxMessage.params).where(OutboxMessage.chat_id > 0)
        for params in await session.scalars(personal):
            assert not any(r in str(params) for r in receipts)
        # Nor does any update a person sent (/receipt CODE is forgotten once answered).
        for payload in await session.scalars(select(InboxUpdate.payload)):
            assert not any(r in str(payload) for r in receipts)
        # The group's ballot buttons were never spent: no record of who pressed.
        group_ballot = select(ButtonToken.used_at).where(
            ButtonToken.action == "election.cast", ButtonToken.user_id == 0
        )
        assert set(await session.scalars(group_ballot)) == {None}
