"""An election's other chat features, on each database: tellers issuing and entering paper
ballots (`/ballots`), recommendations by the branch and by neighbours with seconds and the
nominee's acceptance, objections to the roll decided by the secretary, and the checkable list
in every building group of the estate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.sandbox.server import BotApiServer, Sent
from handlers.election_words import Speaker
from models.audit import AuditEntry
from models.ballot import Ballot
from models.building_chat import BuildingChat
from models.election import Candidate, Election, Source
from models.inbox import InboxUpdate
from models.outbox import OutboxMessage
from models.paper_ballot import PaperCode
from models.registry import Building, Estate, Household, NeighbourGroup
from models.role import Grant, Role, grant_role
from models.scope import resolve_scope
from models.store import Store
from scheduler.elections import run_elections
from tests.chat.harness import GROUP, STRANGER, Harness, running_bot
from tests.election_world import (
    ROOMS,
    SECRETARY,
    TELLER_A,
    TELLER_B,
    TODAY,
    ZONE,
    build,
    resident,
    voting,
)

# The estate's other building, with its own group chat.
GROUP2 = -100600


async def seed(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
    async with store.write() as session:
        await build(session, members=2)
        building = await session.scalar(select(Building))
        estate = await session.scalar(select(Estate))
        assert building is not None and estate is not None
        other = Building(estate_id=estate.id, name="2栋")
        session.add(other)
        await session.flush()
        session.add(BuildingChat(chat_id=GROUP, building_id=building.id, bound_by=SECRETARY))
        session.add(BuildingChat(chat_id=GROUP2, building_id=other.id, bound_by=SECRETARY))
    for unit in (1, 2):
        for room in ROOMS:
            for member in (1, 2):
                name = f"居民{unit}{room}" + ("之2" if member == 2 else "")
                server.add_user(resident(unit, room, member), name)
    for user, name in ((SECRETARY, "赵书记"), (TELLER_A, "钱监票"), (TELLER_B, "孙监票")):
        server.add_user(user, name)
    server.add_user(STRANGER, "Stranger", "en")
    server.add_group(GROUP, "芙蓉花园1栋业主群", admins=(SECRETARY,))
    server.add_group(GROUP2, "芙蓉花园2栋业主群", admins=(SECRETARY,))
    return {}, ""


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot("ptb", tmp_path, database_url=database_url, seeder=seed) as harness:
        yield harness


async def _toast(bot: Harness, user: int, message: Sent, index: int) -> str:
    """Press a button and return what only the presser sees."""
    before = len(bot.server.callback_answers)
    await bot.server.press(user, message, index)
    await bot.server.wait_callback_answers(before + 1)
    return str(bot.server.callback_answers[before].get("text", ""))


def _code(sent: Sent) -> str:
    return sent.text.split("选票编码：")[1].split("\n")[0]


async def _tasks(bot: Harness, teller: int, index: int) -> Sent:
    """A teller's /ballots, then one of its tasks for 1单元 pressed: the question it asks."""
    [listed] = await bot.say(teller, "/ballots")
    assert [b["text"] for b in listed.buttons()][:3] == [
        "固定票箱发票·1单元",
        "流动票箱发票·1单元",
        "录入选票·1单元",
    ]
    [asked] = await bot.press(teller, listed, index)
    return asked


async def test_tellers_issue_and_enter_paper_ballots_in_chat(bot: Harness) -> None:
    # Voting from now: the chat answers in real time.
    election_id, _ = await voting(bot.store, now=datetime.now(ZONE))
    # 1单元102室 votes online first, through /vote.
    [private] = await bot.say(resident(1, "102"), "/vote")
    receipt_text = await _toast(bot, resident(1, "102"), private, 0)
    receipt = receipt_text.split("回执码：")[1].split("\n")[0]

    [refused] = await bot.say(STRANGER, "/ballots")
    assert "teller" in refused.text  # not theirs: whose command it is

    asked = await _tasks(bot, TELLER_A, 0)
    assert "固定票箱发票" in asked.text and "101" in asked.text
    [issued] = await bot.say(TELLER_A, "301")
    assert "已发放纸质选票：1栋1单元301室，固定票箱" in issued.text
    fixed = _code(issued)
    # Each refusal with its reason, and the step stays for the next household.
    [online] = await bot.say(TELLER_A, "102")
    assert "已经投过票（线上或纸质）" in online.text
    [twice] = await bot.say(TELLER_A, "1单元301室")
    assert "已经投过票" in twice.text
    [unknown] = await bot.say(TELLER_A, "909")
    assert "没有找到 909室 这一户" in unknown.text
    await bot.say(TELLER_A, "/cancel")
    await _tasks(bot, TELLER_B, 1)
    [mobile] = await bot.say(TELLER_B, "1栋1单元302室")
    assert "流动票箱" in mobile.text
    mobile_code = _code(mobile)

    # A candidate made a teller may not serve in their own election.
    async with bot.store.write() as session:
        estate = await resolve_scope(session, "estate:芙蓉花园")
        grant = Grant(resident(1, "101"), Role.TELLER, estate, display_name="居民1101")
        await grant_role(session, grant, "test", TODAY)
    await _tasks(bot, resident(1, "101"), 0)
    [candidate] = await bot.say(resident(1, "101"), "201")
    assert "候选人不能担任本次选举的监票员" in candidate.text

    entering = await _tasks(bot, TELLER_A, 2)
    assert "1 居民1101、2 居民1102、0 弃权" in entering.text
    [first] = await bot.say(TELLER_A, f"{fixed.lower()} 1")
    assert f"选票 {fixed}（居民1101）已录入，需另一位监票员再录一次" in first.text
    [again] = await bot.say(TELLER_A, f"{fixed} 1")
    assert "须由另一位监票员再录一次" in again.text
    [forged] = await bot.say(TELLER_A, "ZZZZ9999 1")
    assert "选票编码 ZZZZ9999 没有发放过" in forged.text
    [how] = await bot.say(TELLER_A, f"{fixed} 7")
    assert "0 为弃权" in how.text
    await _tasks(bot, TELLER_B, 2)
    [disagree] = await bot.say(TELLER_B, f"{fixed} 2")
    assert f"两位监票员对选票 {fixed} 的录入不一致" in disagree.text
    [counted] = await bot.say(TELLER_B, f"{fixed} 1")
    assert "两位监票员录入一致，已计入" in counted.text
    [used] = await bot.say(TELLER_B, f"{fixed} 1")
    assert f"选票编码 {fixed} 已经录入计票，不能再录" in used.text
    [abstain] = await bot.say(TELLER_B, f"{mobile_code} 0")
    assert "弃权" in abstain.text

    await bot.settle()
    async with bot.store.read() as session:
        # One online ballot, one paper ballot counted; the mobile one waits for a second entry.
        assert await session.scalar(select(func.count()).select_from(Ballot)) == 2
        entered = select(PaperCode.box, PaperCode.entered).order_by(PaperCode.box)
        assert list(await session.execute(entered)) == [("fixed_box", True), ("mobile_box", False)]
        # What joined a household to a code, or a code to a choice, was forgotten once sent.
        for params in await session.scalars(select(OutboxMessage.params)):
            assert fixed not in str(params) and mobile_code not in str(params)
        for payload in await session.scalars(select(InboxUpdate.payload)):
            assert fixed not in str(payload).upper()
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert actions.count("election.paper_issue") == 2
        assert actions.count("election.paper_count") == 1
        election = await session.get_one(Election, election_id)
        ends = election.voting_ends
    assert ends is not None

    # The close: the checkable list with its totals goes to every building group of the estate.
    await run_elections(bot.store, Speaker(ZONE, "zh_CN"), ends + timedelta(seconds=1))
    await bot.settle()
    [listed] = [m.text for m in bot.server.sent_to(GROUP2)]
    assert "公开核对名单：芙蓉花园1栋1单元" in listed
    assert "合计：居民1101 2 票、居民1102 0 票、弃权 0 票" in listed
    assert receipt in listed and len(listed.splitlines()) == 4
    assert [t for t in (m.text for m in bot.server.sent_to(GROUP)) if "公开核对名单" in t]
    [checked] = await bot.say(resident(1, "102"), f"/receipt {receipt.lower()}")
    assert f"回执码 {receipt} 在芙蓉花园1栋1单元的公示名单中，计为：居民1101" in checked.text


async def test_recommendations_accepted_declined_and_seconded(bot: Harness) -> None:
    await bot.say(SECRETARY, "/election", GROUP)
    recommender, nominee = resident(1, "101"), resident(1, "201")
    nominee_twin = resident(1, "201", 2)
    [how] = await bot.say(recommender, "/recommend 1栋1单元201室")
    assert "/recommend 房号 方面 推荐理由" in how.text
    [which] = await bot.say(recommender, "/recommend 201 党员 热心邻里事务")
    assert [b["text"] for b in which.buttons()] == ["居民1201", "居民1201之2"]
    [recommended] = await bot.press(recommender, which, 0)
    assert "已推荐居民1201参选芙蓉花园1栋1单元邻长，等本人接受提名" in recommended.text
    [invited] = await bot.server.wait_sent(nominee, 1)
    assert "邻居居民1101推荐您参选芙蓉花园1栋1单元邻长（党员）" in invited.text
    assert [b["text"] for b in invited.buttons()] == ["接受提名", "不参选"]
    # Nothing in the group names a nominee who has not accepted; only they may accept.
    assert not [m for m in bot.server.sent_to(GROUP) if "居民1201" in m.text]
    assert await _toast(bot, nominee_twin, invited, 0) == "这个按钮已失效，请重新操作。"

    [accepted] = await bot.press(nominee, invited, 0)
    assert "您已接受提名" in accepted.text
    group = bot.server.sent_to
    await bot.server.wait_until(lambda: any("邻居互荐" in m.text for m in group(GROUP)))
    [seconding] = [m for m in group(GROUP) if "邻居互荐" in m.text]
    assert "居民1201（党员）：热心邻里事务" in seconding.text and "需 2 户" in seconding.text
    # After /recommend twice and the answer: the nominee accepted.
    told = await bot.server.wait_sent(recommender, 4)
    assert "居民1201已接受提名" in told[-1].text

    assert await _toast(bot, resident(1, "102"), seconding, 0) == "已附议。"
    assert await _toast(bot, resident(1, "102", 2), seconding, 0) == "本户已附议。"
    assert await _toast(bot, nominee_twin, seconding, 0) == "附议须是本邻里单元的另一户。"
    assert await _toast(bot, resident(2, "101"), seconding, 0) == "附议须是本邻里单元的另一户。"
    assert await _toast(bot, resident(1, "301"), seconding, 0) == "已附议。"

    def edited() -> str:
        return [m.text for m in bot.server.sent_to(GROUP) if "邻居互荐" in m.text][-1]

    await bot.server.wait_until(lambda: "已有 2 户附议，列入候选人" in edited())

    # The branch's recommendation, declined: the name is gone as if never given.
    [which] = await bot.say(SECRETARY, "/recommend 1栋2单元101室 退休干部")
    [recommended] = await bot.press(SECRETARY, which, 1)
    assert "居民2101之2" in recommended.text
    [invited] = await bot.server.wait_sent(resident(2, "101", 2), 1)
    assert "小区党支部推荐您参选芙蓉花园1栋2单元邻长（退休干部）" in invited.text
    assert "未填写介绍" in invited.text
    [declined] = await bot.press(resident(2, "101", 2), invited, 1)
    assert "您的名字不会出现在候选人中" in declined.text
    told = await bot.server.wait_sent(SECRETARY, 3)
    assert "没有接受芙蓉花园1栋2单元邻长的提名" in told[-1].text
    [nobody] = await bot.say(STRANGER, "/recommend 101 党员")
    assert nobody.text == "Your neighbour group has no election taking nominations now."

    # The secretary confirms 1单元: the seconded neighbour's pick is on the ballot.
    [status] = await bot.say(SECRETARY, "/election", GROUP)
    announced, ballot = await bot.press(SECRETARY, status, 0, count=2)
    assert "选民名册共 6 户" in announced.text
    assert "居民1201（党员）：热心邻里事务" in ballot.text
    assert await _toast(bot, resident(1, "302"), seconding, 0) == ("该选举现在不在提名期。")
    async with bot.store.read() as session:
        candidates = list(await session.execute(select(Candidate.user_id, Candidate.source)))
        assert candidates == [(nominee, Source.NEIGHBOUR.value)]
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert actions.count("election.second") == 2
        assert actions.count("election.decline") == 1


async def test_an_objection_to_the_roll_is_decided_by_the_secretary(bot: Harness) -> None:
    await bot.say(SECRETARY, "/election", GROUP)
    [sent] = await bot.say(resident(1, "101"), "/objection 我家一直由2单元的邻长联系")
    assert "异议已转给小区党支部书记" in sent.text
    [card] = await bot.server.wait_sent(SECRETARY, 1)
    assert "选民名册异议：1栋1单元101室（现列入芙蓉花园1栋1单元）" in card.text
    assert "我家一直由2单元的邻长联系" in card.text
    assert [b["text"] for b in card.buttons()] == ["改列2单元", "不采纳"]
    [moved] = await bot.press(SECRETARY, card, 0)
    assert "已采纳：1栋1单元101室改列芙蓉花园1栋2单元的选民名册" in moved.text
    told = await bot.server.wait_sent(resident(1, "101"), 2)
    assert "异议已采纳" in told[-1].text

    [sent] = await bot.say(resident(1, "102"), "/objection 我家不在名册上")
    [card] = (await bot.server.wait_sent(SECRETARY, 3))[-1:]
    [kept] = await bot.press(SECRETARY, card, 1)
    assert "未采纳：1栋1单元102室的选民名册不变" in kept.text
    told = await bot.server.wait_sent(resident(1, "102"), 2)
    assert "异议未被采纳" in told[-1].text

    async with bot.store.read() as session:
        groups = dict(
            (u, g)
            for u, g in await session.execute(
                select(NeighbourGroup.name, NeighbourGroup.id).order_by(NeighbourGroup.id)
            )
        )
        placed = dict(
            (r, g)
            for r, g in await session.execute(
                select(Household.unit + Household.room, Household.neighbour_group_id)
            )
        )
        assert placed["1单元101"] == groups["2单元"] and placed["1单元102"] == groups["1单元"]
        actions = list(await session.scalars(select(AuditEntry.action)))
        for action in ("election.roll_objection", "election.roll_move", "election.roll_reject"):
            assert action in actions
