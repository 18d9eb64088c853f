"""Requests end to end: residents file, heads handle, the secretary approves, the resident rates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_skeleton
from sqlalchemy import func, select

from bot.commands import publish_personal_menus
from bot.sandbox.server import BotApiServer, Sent
from handlers.request_cards import Desk
from models.audit import AuditEntry
from models.building_chat import BuildingChat
from models.deliberation import Deliberation
from models.mediation import mediation_day, mediation_of
from models.registry import Building
from models.request import Request, RequestFollower, State
from models.request_flow import Clock
from models.role import Role, revoke_role
from models.scope import resolve_scope
from models.store import Store
from models.workdays import WorkCalendar
from scheduler.deadlines import check_deadlines
from tests.chat.harness import GROUP, STRANGER, Harness, running_bot
from tests.request_world import (
    HEAD1,
    HEAD2,
    NAMES,
    PROPERTY_A,
    PROPERTY_B,
    R1,
    R1B,
    R2,
    R3,
    SECRETARY,
    build_world,
)


async def seed_world(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
    """The request world, its people known to the server, 1栋's group bound to 1栋."""
    for user, name in NAMES.items():
        server.add_user(user, name)
    server.add_user(STRANGER, "Stranger", "en")
    server.add_group(GROUP, "芙蓉花园1栋业主群", admins=(SECRETARY,))
    async with store.write() as session:
        await build_world(session, date.today())
        building = await session.scalar(select(Building))
        assert building is not None
        session.add(BuildingChat(chat_id=GROUP, building_id=building.id, bound_by=SECRETARY))
    return {}, ""


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path, seeder=seed_world) as harness:
        yield harness


async def _next(bot: Harness, chat: int, seen: int) -> Sent:
    """The message after the first `seen` ones in a chat, waiting for it."""
    return (await bot.server.wait_sent(chat, seen + 1))[seen]


async def _request(bot: Harness) -> Request:
    async with bot.store.read() as session:
        found = await session.scalar(select(Request))
        assert found is not None
        return found


async def test_filed_escalated_approved_assigned_resolved_and_rated(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    assert [b["text"] for b in kinds.buttons()] == ["服务需求", "意见建议", "矛盾纠纷", "取消"]
    [ask] = await bot.press(R1, kinds, 0)
    assert "请描述" in ask.text
    [confirm] = await bot.say(R1, "家门口下水道堵了，污水外溢")
    assert "家门口下水道堵了" in confirm.text
    [filed] = await bot.press(R1, confirm, 0)
    reference = (await _request(bot)).reference
    assert reference in filed.text and reference.startswith("FRHY-")
    # Submitted, not "accepted" (受理 is the handler's act), and to whom it went.
    assert "已提交" in filed.text and "已受理" not in filed.text and "邻长签收" in filed.text

    # The head's card names the household and the resident; they sign, then escalate.
    card = await _next(bot, HEAD1, 0)
    assert reference in card.text and "李秀英" in card.text and "芙蓉花园1栋1单元101室" in card.text
    assert "签收期限：" in card.text  # which deadline, and when
    assert [b["text"] for b in card.buttons()] == ["签收", "上报", "非本职"]
    r1_seen = len(bot.server.sent_to(R1))
    await bot.press(HEAD1, card, 0, count=0)
    told = await _next(bot, R1, r1_seen)
    assert "已签收" in told.text
    card = (await bot.server.wait_sent(HEAD1, 3))[-1]  # a confirmation, then the next card
    assert [b["text"] for b in card.buttons()] == ["添加进展", "办结", "上报"]
    [why] = await bot.press(HEAD1, card, 2)
    assert "原因" in why.text
    r1_seen = len(bot.server.sent_to(R1))
    await bot.say(HEAD1, "需要物业疏通主管道", count=1)
    assert "物业疏通主管道" in (await _next(bot, R1, r1_seen)).text

    # The secretary approves at the branch and gives it to the property company.
    decide = await _next(bot, SECRETARY, 0)
    assert "需要物业疏通主管道" in decide.text and "李秀英" in decide.text
    [choose] = await bot.press(SECRETARY, decide, 0)
    forces = [b["text"] for b in choose.buttons()]
    assert forces[1] == "物业公司" and forces[-2:] == ["交回邻长", "本人办理"]
    [by_when] = await bot.press(SECRETARY, choose, 1)
    assert [b["text"] for b in by_when.buttons()][:2] == ["1 个工作日", "3 个工作日"]
    await bot.press(SECRETARY, by_when, 1)
    work_a = await _next(bot, PROPERTY_A, 0)
    await _next(bot, PROPERTY_B, 0)  # every member of the force gets the card
    await bot.press(PROPERTY_A, work_a, 0, count=0)
    card = (await bot.server.wait_sent(PROPERTY_A, 3))[-1]
    await bot.press(PROPERTY_A, card, 1)
    r1_seen = len(bot.server.sent_to(R1))
    await bot.say(PROPERTY_A, "已疏通主管道并消毒", count=1)

    # The return visit: the resident rates it and it closes.
    resolved = await _next(bot, R1, r1_seen)
    assert "已疏通主管道并消毒" in resolved.text
    assert [b["text"] for b in resolved.buttons()] == ["满意", "基本满意", "不满意"]
    [thanks] = await bot.press(R1, resolved, 0)
    assert "已结案" in thanks.text

    await bot.settle()
    request = await _request(bot)
    assert request.state == State.CONFIRMED and request.rating == "satisfied"
    async with bot.store.read() as session:
        assigned = await session.scalar(
            select(AuditEntry.after).where(AuditEntry.action == "request.assigned:property")
        )
    zone = ZoneInfo("Asia/Shanghai")
    due = WorkCalendar().due(datetime.now(zone), 3, zone)
    assert assigned is not None and assigned["deadline_at"] == due.isoformat()
    async with bot.store.read() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_id == reference)
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "request.filed",
        "request.signed",
        "request.escalated",
        "request.assigned:property",
        "request.signed",
        "request.resolved",
        "request.confirmed",
    ]
    # The resident heard of every step, in order.
    heard = [m.text for m in bot.server.sent_to(R1)][3:]
    steps = [
        "已提交",
        "已签收",
        "已上报至小区党支部",
        "已指派物业公司",
        "已签收",
        "已办结",
        "已结案",
    ]
    assert len(heard) == len(steps) and all(
        step in text for step, text in zip(steps, heard, strict=True)
    ), heard
    [mine] = await bot.say(R1, "/my")
    assert reference in mine.text and "已结案" in mine.text


async def test_group_filing_me_too_and_strangers(bot: Harness) -> None:
    [posted] = await bot.say(R2, "/request 三楼楼道灯坏了，晚上很黑", chat=GROUP)
    request = await _request(bot)
    assert request.reference in posted.text and not request.personal
    assert "王芳" not in posted.text  # nothing personal in the group
    # A neighbour in the same building follows instead of filing again.
    await bot.press(R3, posted, 0, count=0)
    await bot.settle()
    toasts = [a.get("text") for a in bot.server.callback_answers]
    assert any(request.reference in (text or "") for text in toasts)
    async with bot.store.read() as session:
        followers = list(await session.scalars(select(RequestFollower.user_id)))
    assert followers == [R3]

    # Someone not registered in the building is pointed to registration in private.
    before = len(bot.server.sent_to(GROUP))
    await bot.server.send_text(STRANGER, "/request 我也要报修", GROUP)
    pointer = await _next(bot, STRANGER, 0)
    assert "register" in pointer.text.lower()
    await bot.settle()
    assert len(bot.server.sent_to(GROUP)) == before
    async with bot.store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Request)) == 1

    # Personal lists are never shown in the group.
    [refused] = await bot.say(R2, "/my", chat=GROUP)
    assert "私聊" in refused.text and request.reference not in refused.text


async def test_a_card_pressed_by_someone_else_changes_nothing(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 1)
    [confirm] = await bot.say(R1, "建议小区增设电动车充电桩")
    await bot.press(R1, confirm, 0)
    card = await _next(bot, HEAD1, 0)
    # The head of another group, and a secretary, press the head's sign button.
    for intruder in (HEAD2, SECRETARY):
        await bot.press(intruder, card, 0, count=0)
        assert "已失效" in bot.server.callback_answers[-1]["text"]
    await bot.settle()
    request = await _request(bot)
    assert request.state == State.SUBMITTED and request.version == 1
    # The rightful head still can.
    await bot.press(HEAD1, card, 0, count=0)
    await bot.settle()
    assert (await _request(bot)).state == State.SIGNED
    [tasks] = await bot.say(HEAD1, "/tasks")
    assert (await _request(bot)).reference in tasks.text


async def test_heads_and_secretaries_get_their_own_command_menus(bot: Harness) -> None:
    def menu(user: int, language: str = "") -> list[str]:
        key = json.dumps([{"chat_id": user, "type": "chat"}, language], sort_keys=True)
        return [c["command"] for c in bot.server.commands.get(key, [])]

    for _ in range(100):
        if menu(SECRETARY, "en"):
            break
        await asyncio.sleep(0.05)
    assert menu(HEAD1)[-1] == "tasks" and "queue" not in menu(HEAD1)
    assert menu(SECRETARY)[-3:] == ["queue", "stats", "tasks"] and menu(SECRETARY, "en") == menu(
        SECRETARY
    )
    assert menu(R1) == []  # a resident keeps the menu every private chat has
    # Someone who loses the role loses the menu at the next publishing.
    async with bot.store.write() as session:
        group = await resolve_scope(session, "group:芙蓉花园/1栋/1单元")
        await revoke_role(session, HEAD1, Role.NEIGHBOUR_HEAD, group, "test")
    await publish_personal_menus(bot.store, bot.runtime.transport, date.today(), bot.runtime.router)
    assert menu(HEAD1) == [] and menu(SECRETARY)


async def test_a_dispute_names_the_other_party_is_mediated_and_followed_up(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 2)
    [ask_other] = await bot.say(R1, "楼上102天天半夜装修，协商不成")
    assert "对方是哪一户" in ask_other.text
    [again] = await bot.say(R1, "9栋9单元909室")
    assert "没找到" in again.text
    [confirm] = await bot.say(R1, "1栋 1单元 102室")
    await bot.press(R1, confirm, len(confirm.buttons()) - 2)
    card = await _next(bot, HEAD1, 0)
    request = await _request(bot)
    assert request.kind == "dispute" and request.other_household_id is not None

    r2_seen = len(bot.server.sent_to(R2))
    await bot.press(HEAD1, card, 0, count=0)
    zone = ZoneInfo("Asia/Shanghai")
    day = mediation_day(WorkCalendar(), datetime.now(zone).date())
    invited = await _next(bot, R2, r2_seen)  # the other party, without the complainant's name
    assert request.reference in invited.text and "周一矛调" in invited.text
    assert format_skeleton("MMMEd", day, locale="zh_CN") in invited.text
    # When, where and who mediates: the estate's defaults, the head who signed.
    assert "09:00" in invited.text and "小区党群服务站" in invited.text and "陈邻长" in invited.text
    assert "李秀英" not in invited.text and "101" not in invited.text
    card = (await bot.server.wait_sent(HEAD1, 3))[-1]  # the mediator's invitation, the card
    assert [b["text"] for b in card.buttons()] == ["达成协议", "未达成协议", "添加进展"]
    await bot.press(HEAD1, card, 0)
    r1_seen = len(bot.server.sent_to(R1))
    await bot.say(HEAD1, "晚上十点后不施工，周末不施工", count=1)
    resolved = await _next(bot, R1, r1_seen)
    assert "晚上十点后不施工" in resolved.text

    # A week later both parties are asked whether the agreement holds.
    await bot.settle()
    r2_seen = len(bot.server.sent_to(R2))
    later = Clock(WorkCalendar(), zone, datetime.now(zone) + timedelta(days=8))
    assert await check_deadlines(bot.store, Desk(zone, "zh_CN"), later) >= 1
    asked = await _next(bot, R2, r2_seen)
    assert "还在履行" in asked.text
    await bot.settle()
    # Only the parties are asked: the complainant, not every member of their household.
    assert any("还在履行" in m.text for m in bot.server.sent_to(R1))
    assert not any("还在履行" in m.text for m in bot.server.sent_to(R1B))
    head_seen = len(bot.server.sent_to(HEAD1))
    await bot.press(R2, asked, 1)
    broken = await _next(bot, HEAD1, head_seen)
    assert request.reference in broken.text and "没有履行" in broken.text
    async with bot.store.read() as session:
        mediation = await mediation_of(session, request.id)
    assert mediation is not None and mediation.outcome == "agreed"
    assert mediation.holds_for_other is False and mediation.holds_for_filer is None


async def test_secretary_convenes_four_parties_and_records_the_decision(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 1)
    [confirm] = await bot.say(R1, "建议把闲置的自行车棚改成电动车充电区")
    await bot.press(R1, confirm, len(confirm.buttons()) - 2)
    card = await _next(bot, HEAD1, 0)
    await bot.press(HEAD1, card, 1)  # escalate at once
    await bot.say(HEAD1, "涉及公共区域改造，需要四方商量", count=1)
    decide = await _next(bot, SECRETARY, 0)
    assert [b["text"] for b in decide.buttons()][-1] == "四方议事"
    waiting, overdue, week = await bot.say(SECRETARY, "/queue", count=3)
    reference = (await _request(bot)).reference
    assert "待您决定" in waiting.text and reference in waiting.text
    assert "没有超期事项" in overdue.text
    assert "上周邻长走访情况" in week.text and "陈邻长：0/0户" in week.text
    [not_theirs] = await bot.say(HEAD1, "/queue")
    assert "书记" in not_theirs.text and reference not in not_theirs.text
    [when] = await bot.press(SECRETARY, decide, 3)
    assert "时间" in when.text
    [bad] = await bot.say(SECRETARY, "下周找个时间")
    assert "看不懂" in bad.text
    day = date.today() + timedelta(days=7)
    messages = await bot.say(SECRETARY, f"{day:%Y-%m-%d} 19:30", count=2)
    record = next(m for m in messages if m.buttons() and m.buttons()[0]["text"] == "记录议事决定")
    assert "4 位代表" in record.text

    invite_a = await _next(bot, PROPERTY_A, 0)
    assert "物业公司" in invite_a.text and "19:30" in invite_a.text
    await bot.press(PROPERTY_A, invite_a, 0)
    invite_head = (await bot.server.wait_sent(HEAD1, 3))[-1]
    assert "居民（邻长）" in invite_head.text
    await bot.press(HEAD1, invite_head, 1)

    [ask] = await bot.press(SECRETARY, record, 0)
    assert "参加 1 人，不能参加 1 人，未回复 2 人" in ask.text
    [who] = await bot.say(SECRETARY, "车棚改造为充电区，费用从公共收益列支")
    r1_seen = len(bot.server.sent_to(R1))
    await bot.press(SECRETARY, who, 2)  # the property company
    told = await _next(bot, R1, r1_seen)
    assert "费用从公共收益列支" in told.text and "物业公司" in told.text
    async with bot.store.read() as session:
        meeting = await session.scalar(select(Deliberation))
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert meeting is not None and meeting.responsible == "property"
    assert meeting.decision == "车棚改造为充电区，费用从公共收益列支"
    assert "deliberation.convene" in actions and "deliberation.decide" in actions


async def test_request_in_reply_files_what_the_neighbour_wrote(bot: Harness) -> None:
    await bot.server.send_text(R3, "/request", GROUP, reply_to=(R2, "地下车库的排风扇不转了"))
    posted = await _next(bot, GROUP, 0)
    request = await _request(bot)
    assert request.reference in posted.text
    assert (request.description, request.filed_by, request.personal) == (
        "地下车库的排风扇不转了",
        R3,
        False,
    )


async def test_the_resident_withdraws_and_the_head_is_told(bot: Harness) -> None:
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 0)
    [confirm] = await bot.say(R1, "想预约上门量血压")
    [filed] = await bot.press(R1, confirm, len(confirm.buttons()) - 2)
    card = await _next(bot, HEAD1, 0)
    await bot.press(R1, filed, 0)  # 撤回
    told = await _next(bot, HEAD1, 1)
    assert "撤回" in told.text
    assert (await _request(bot)).state == State.WITHDRAWN
    # The head's card is stale now: signing changes nothing.
    [stale] = await bot.press(HEAD1, card, 0)
    assert "已被处理" in stale.text
    assert (await _request(bot)).state == State.WITHDRAWN


async def test_with_no_head_the_resident_is_told_it_went_to_the_branch(bot: Harness) -> None:
    async with bot.store.write() as session:
        group = await resolve_scope(session, "group:芙蓉花园/1栋/2单元")
        await revoke_role(session, HEAD2, Role.NEIGHBOUR_HEAD, group, "test")
    [kinds] = await bot.say(R3, "/request")
    await bot.press(R3, kinds, 0)
    [confirm] = await bot.say(R3, "单元门禁坏了")
    [filed] = await bot.press(R3, confirm, len(confirm.buttons()) - 2)
    assert "暂无邻长" in filed.text and "小区党支部" in filed.text
    assert "邻长签收" not in filed.text
    card = await _next(bot, SECRETARY, 0)
    assert "决定期限：" in card.text
