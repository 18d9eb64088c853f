"""Who may bind to a household, and what a household's members, heads and groups get to see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.sandbox.server import BotApiServer
from models.building_chat import BuildingChat
from models.contact_card import cards_for, household_for_payload
from models.membership import members
from models.person import Person, Resident
from models.registry import Building
from models.request import Request
from models.store import Store
from tests.chat.harness import GROUP, STRANGER, Harness, running_bot
from tests.request_world import HEAD1, NAMES, R1, R1B, R2, SECRETARY, build_world

NEWCOMER = 4401


async def seed_households(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
    """The request world with a card for every household, 1栋's group bound to 1栋."""
    for user, name in NAMES.items():
        server.add_user(user, name)
    server.add_user(STRANGER, "Stranger", "en")
    server.add_user(NEWCOMER, "小赵")
    server.add_group(GROUP, "芙蓉花园1栋业主群", admins=(SECRETARY,))
    async with store.write() as session:
        world = await build_world(session, date.today())
        building = await session.scalar(select(Building))
        assert building is not None
        session.add(BuildingChat(chat_id=GROUP, building_id=building.id, bound_by=SECRETARY))
        homes = {user: household.id for user, household in world.households.items()}
        issue = await cards_for(session, sorted(set(homes.values())), "test")
    return {str(user): issue.cards[home].payload for user, home in homes.items()}, ""


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path, seeder=seed_households) as harness:
        yield harness


async def _bound(bot: Harness, user: int) -> list[int]:
    async with bot.store.read() as session:
        rows = await session.scalars(
            select(Resident.household_id).where(
                Resident.user_id == user, Resident.unbound_at.is_(None)
            )
        )
        return list(rows)


async def test_members_are_told_of_a_newcomer_and_can_refuse_them(bot: Harness) -> None:
    r1_seen, r1b_seen = len(bot.server.sent_to(R1)), len(bot.server.sent_to(R1B))
    [consent] = await bot.say(NEWCOMER, f"/start {bot.payloads[str(R1)]}")
    await bot.press(NEWCOMER, consent, 0)
    # Both members already there hear who bound, and when, in private.
    told = (await bot.server.wait_sent(R1, r1_seen + 1))[r1_seen]
    await bot.server.wait_sent(R1B, r1b_seen + 1)
    assert "小赵" in told.text and "芙蓉花园1栋1单元101室" in told.text
    assert [b["text"] for b in told.buttons()] == ["不是我家的人"]
    assert await _bound(bot, NEWCOMER)

    head_seen = len(bot.server.sent_to(HEAD1))
    newcomer_seen = len(bot.server.sent_to(NEWCOMER))
    [done] = await bot.press(R1, told, 0)
    assert "已解除" in done.text
    assert await _bound(bot, NEWCOMER) == []
    undone = (await bot.server.wait_sent(NEWCOMER, newcomer_seen + 1))[newcomer_seen]
    assert "登记已解除" in undone.text
    head = (await bot.server.wait_sent(HEAD1, head_seen + 1))[head_seen]
    assert "小赵" in head.text and "换发联系卡" in head.text
    # The other member's button no longer undoes anything twice.
    other = bot.server.sent_to(R1B)[r1b_seen]
    [again] = await bot.press(R1B, other, 0)
    assert "已经解除" in again.text


async def test_a_newcomer_does_not_see_what_members_filed_before_them(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 2)  # a dispute with the neighbours
    await bot.say(R1, "楼上102天天半夜装修")
    [skip] = bot.server.sent_to(R1)[-1:]
    [confirm] = await bot.press(R1, skip, 0)
    await bot.press(R1, confirm, len(confirm.buttons()) - 2)
    await bot.settle()
    reference = (await _one_request(bot)).reference

    [consent] = await bot.say(NEWCOMER, f"/start {bot.payloads[str(R1)]}")
    await bot.press(NEWCOMER, consent, 0)
    [mine] = await bot.say(NEWCOMER, "/my")
    assert reference not in mine.text
    [theirs] = await bot.say(R1B, "/my")  # a member who was there sees it
    assert reference in theirs.text


async def test_leaving_a_household_from_me(bot: Harness) -> None:
    [me] = await bot.say(R2, "/me")
    assert "芙蓉花园1栋1单元102室" in me.text
    labels = [b["text"] for b in me.buttons()]
    assert labels == ["修改称呼", "开启缴费提醒", "退出本户", "导出我的信息"]
    [sure] = await bot.press(R2, me, labels.index("退出本户"))
    assert "确认退出" in sure.text
    head_seen = len(bot.server.sent_to(HEAD1))
    [left] = await bot.press(R2, sure, 0)
    assert "已退出 芙蓉花园1栋1单元102室" in left.text
    assert await _bound(bot, R2) == []
    head = (await bot.server.wait_sent(HEAD1, head_seen + 1))[head_seen]
    assert "王芳" in head.text and "退出本户" in head.text
    # Moving back: the card binds again.
    [consent] = await bot.say(R2, f"/start {bot.payloads[str(R2)]}")
    await bot.press(R2, consent, 0)
    assert len(await _bound(bot, R2)) == 1


async def test_a_head_files_for_a_household_and_its_residents_hear_of_it(bot: Harness) -> None:
    # The head lives elsewhere: the households they serve are offered at once.
    [households] = await bot.say(HEAD1, "/request")
    assert households.text == "代哪一户提出？"
    labels = [b["text"] for b in households.buttons()]
    assert labels[:2] == ["1栋1单元101室", "1栋1单元102室"] and labels[-1] == "取消"
    [kinds] = await bot.press(HEAD1, households, 1)  # 102, where 王芳 lives
    await bot.press(HEAD1, kinds, 0)
    [confirm] = await bot.say(HEAD1, "王芳家老人行动不便，厨房水龙头漏水需要上门维修")
    assert "代为提出：芙蓉花园1栋1单元102室" in confirm.text
    r2_seen = len(bot.server.sent_to(R2))
    filed, *_ = await bot.press(HEAD1, confirm, len(confirm.buttons()) - 2)
    assert "已代 芙蓉花园1栋1单元102室 提交" in filed.text
    told = (await bot.server.wait_sent(R2, r2_seen + 1))[r2_seen]
    assert "陈邻长代您家提出了诉求" in told.text
    request = await _one_request(bot)
    assert request.on_behalf and request.filed_by == HEAD1
    async with bot.store.read() as session:
        assert request.household_id == (await _home(session, R2))
    [mine] = await bot.say(R2, "/my")
    assert request.reference in mine.text


async def test_personal_commands_in_a_group_answer_in_private(bot: Harness) -> None:
    for command in ("/me", "/lang"):
        [pointer] = await bot.say(R1, command, chat=GROUP)
        assert "私聊" in pointer.text and "芙蓉花园1栋1单元101室" not in pointer.text
        assert NAMES[R1] not in pointer.text and not pointer.buttons()
    [short] = await bot.say(R1, "/help", chat=GROUP)
    assert "/request" in short.text and "/me" not in short.text


async def test_a_head_sets_a_phone_to_print_on_cards(bot: Harness) -> None:
    [me] = await bot.say(HEAD1, "/me")
    assert "设置联系电话" in [b["text"] for b in me.buttons()]
    await bot.press(HEAD1, me, [b["text"] for b in me.buttons()].index("设置联系电话"))
    [bad] = await bot.say(HEAD1, "一三九")
    assert "看不懂" in bad.text
    [consent] = await bot.say(HEAD1, "139 0733 1234")
    assert "139 0733 1234" in consent.text
    [saved] = await bot.press(HEAD1, consent, 0)
    assert "139 0733 1234" in saved.text
    async with bot.store.read() as session:
        head = await session.get_one(Person, HEAD1)
    assert (head.phone, head.phone_on_card) == ("+8613907331234", True)
    # A resident registering now reads the head's name and phone, with no loose space.
    [consent] = await bot.say(NEWCOMER, f"/start {bot.payloads[str(R2)]}")
    [done] = await bot.press(NEWCOMER, consent, 0)
    assert "您家的邻长：陈邻长，电话 139 0733 1234\n" in done.text


async def _one_request(bot: Harness) -> Request:
    async with bot.store.read() as session:
        found = await session.scalar(select(Request))
        assert found is not None
        return found


async def _home(session, user: int) -> int:  # type: ignore[no-untyped-def]
    household = await session.scalar(select(Resident.household_id).where(Resident.user_id == user))
    assert household is not None
    return int(household)


async def test_card_payloads_resolve(bot: Harness) -> None:
    async with bot.store.read() as session:
        household = await household_for_payload(session, bot.payloads[str(R1)])
        assert household is not None
        assert set(await members(session, household.id)) == {R1, R1B}
