"""A head's week in chat: the visit list's buttons, a visit that files a request, /households."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.sandbox.server import BotApiServer
from bot.sender import SendLimits
from handlers.outgoing import enqueue
from handlers.request_cards import Desk
from handlers.speech import Voice
from handlers.week_summary import summary_text
from models.audit import AuditEntry
from models.cleaning_day import CleaningDay, CleaningSignup
from models.notice import NoticeRead
from models.outbox import OutboxMessage
from models.person import Person
from models.privacy import export
from models.registry import Estate
from models.schedule_rule import set_week, week_of
from models.store import Store
from models.visit import Visit, VisitState
from scheduler.week import advert_prompts, cleaning_day, cleaning_eve, fee_reminders, visit_lists
from tests.chat.harness import GROUP, Harness, running_bot
from tests.chat.test_requests_chat import seed_world
from tests.conftest import PG_REASON, emptied
from tests.request_world import HEAD1, HEAD2, R1, R1B, R2, R3, SECRETARY

ZONE = ZoneInfo("Asia/Shanghai")
DESK = Desk(ZONE, "zh_CN")
# The recorded visit's buttons: the five ones, done, then "found a problem".
PROBLEM = 6


@pytest.fixture(params=["ptb", "aiogram", "ptb-postgresql"])
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None
) -> AsyncIterator[Harness]:
    runtime, _, database = request.param.partition("-")
    url = None
    if database:
        if pg_database is None:
            pytest.skip(PG_REASON)
        url = await emptied(pg_database)
    async with running_bot(runtime, tmp_path, seeder=seed_world, database_url=url) as harness:
        yield harness


async def monday_lists(bot: Harness) -> None:
    """This week's lists, written as the Monday job writes them."""
    today = datetime.now(ZONE).date()
    monday = today - timedelta(days=today.weekday())
    due = datetime(monday.year, monday.month, monday.day, 8, tzinfo=ZONE)
    async with bot.store.write() as session:
        estate = await session.scalar(select(Estate))
        assert estate is not None
        week = await week_of(session, estate.id)
        enqueue(
            session, await visit_lists(session, estate.id, due, week, Desk(ZONE, "zh_CN")), None
        )


async def test_a_visit_from_the_list_files_a_request_and_stale_presses_are_refused(
    bot: Harness,
) -> None:
    await monday_lists(bot)
    [listed] = await bot.server.wait_sent(HEAD1, 1)
    assert "本周五一行动走访名单（2户）" in listed.text
    assert "1栋1单元101室" in listed.text and "1栋1单元102室" in listed.text
    [recorded] = await bot.press(HEAD1, listed, 0)
    assert "已登记走访1栋1单元101室" in recorded.text
    assert recorded.buttons()[PROBLEM]["text"] == "发现问题，代为提交诉求"
    # "Found a problem" opens the filing on the household's behalf.
    [kinds] = await bot.press(HEAD1, recorded, PROBLEM)
    assert [b["text"] for b in kinds.buttons()][:3] == ["服务需求", "意见建议", "矛盾纠纷"]
    # The same row again (not at home after visited): spent, refused with a toast.
    await bot.press(HEAD1, listed, 1, count=0)
    assert bot.server.callback_answers[-1].get("text")
    # Another head pressing this head's list: refused, nothing written.
    await bot.press(HEAD2, listed, 3, count=0)
    assert bot.server.callback_answers[-1].get("text")
    # The list's other household keeps its buttons: put off, then visited after all.
    [put_off] = await bot.press(HEAD1, listed, 5)
    assert "已将1栋1单元102室改期" in put_off.text
    [later] = await bot.press(HEAD1, listed, 3)
    assert "已登记走访1栋1单元102室" in later.text
    async with bot.store.read() as session:
        states = dict(
            (
                await session.execute(
                    select(Visit.household_id, Visit.state).where(Visit.head_user_id == HEAD1)
                )
            ).all()
        )
        visited = await session.scalar(
            select(func.count()).where(Visit.state == VisitState.VISITED.value)
        )
    assert visited == 2 and sorted(states.values()) == ["visited", "visited"]


async def test_households_lists_and_opens_a_card(bot: Harness) -> None:
    [listed] = await bot.say(HEAD1, "/households")
    assert "您联系的2户" in listed.text
    assert "1栋1单元101室：已登记2人，尚未走访" in listed.text
    [card] = await bot.press(HEAD1, listed, 0)
    assert "已登记居民：李秀英、李建国" in card.text
    [recorded] = await bot.press(HEAD1, card, 0)
    assert "已登记走访1栋1单元101室" in recorded.text
    labels = [b["text"] for b in recorded.buttons()]
    assert labels == [
        "走一走",
        "看一看",
        "聊一聊",
        "劝一劝",
        "帮一帮",
        "完成",
        "发现问题，代为提交诉求",
    ]
    # Ticking edits the same message in place; a second tick takes it off again.
    [ticked] = await bot.press(HEAD1, recorded, 0)
    [ticked] = await bot.press(HEAD1, ticked, 2)
    [ticked] = await bot.press(HEAD1, ticked, 0)
    assert ticked.message_id == recorded.message_id
    assert [b["text"] for b in ticked.buttons()][:5] == [
        "走一走",
        "看一看",
        "✅ 聊一聊",
        "劝一劝",
        "帮一帮",
    ]
    # A keyboard already redrawn is spent: its buttons are refused.
    await bot.press(HEAD1, recorded, 1, count=0)
    assert bot.server.callback_answers[-1].get("text")
    [done] = await bot.press(HEAD1, ticked, 5)
    assert "已记录：聊一聊。请回复一句走访记录。" in done.text
    [note] = await bot.say(HEAD1, "帮一帮修了门锁")
    assert "走访记录已保存" in note.text
    async with bot.store.read() as session:
        visit = await session.scalar(select(Visit))
        assert visit is not None and visit.ones == "chat,help" and visit.week <= date.today()
        assert visit.note == "帮一帮修了门锁"
        ones = await session.scalar(
            select(AuditEntry.after).where(AuditEntry.action == "visit.ones")
        )
    assert ones == {"ones": ["chat"]}


async def test_a_hundred_presses_of_join_edit_one_message_within_the_group_limit(
    tmp_path: Path,
) -> None:
    joiners = {50_000 + n: f"邻居{n:03d}" for n in range(100)}

    async def seeded(store: Store, server: BotApiServer) -> tuple[dict[str, str], str]:
        found = await seed_world(store, server)
        async with store.write() as session:
            for user, name in joiners.items():
                server.add_user(user, name)
                session.add(Person(user_id=user, display_name=name))
        return found

    async with running_bot("ptb", tmp_path, limits=SendLimits(), seeder=seeded) as bot:
        bot.server.limits.enforce = True
        friday = datetime(2026, 12, 4, 19, tzinfo=ZONE)
        async with bot.store.write() as session:
            estate = await session.scalar(select(Estate))
            assert estate is not None
            week = await week_of(session, estate.id)
            replies = await cleaning_eve(session, estate.id, friday, week, Desk(ZONE, "zh_CN"))
            enqueue(session, replies, None)
        [reminder] = await bot.server.wait_sent(GROUP, 1)
        assert "明天是楼道卫生日，09:00开始" in reminder.text
        for user in joiners:
            await bot.press(user, reminder, 0, count=0)
        async with asyncio.timeout(90):
            while "（100人）" not in bot.server.sent_to(GROUP)[-1].text:
                await asyncio.sleep(0.1)
        final = bot.server.sent_to(GROUP)[-1].text
        assert all(name in final for name in list(joiners.values())[:60])
        assert "另有40人" in final and "室" not in final
        calls = [r for r in bot.server.responses if str(r.chat_id) == str(GROUP)]
        assert len(calls) <= 20, len(calls)
        assert bot.server.rejected_429 == 0
        assert len({s.message_id for s in bot.server.sent_to(GROUP)}) == 1
        async with bot.store.read() as session:
            signed = await session.scalar(select(func.count()).select_from(CleaningSignup))
        assert signed == 100


async def test_the_secretary_reads_and_changes_the_week_in_chat(bot: Harness) -> None:
    [shown] = await bot.say(SECRETARY, "/schedule")
    assert "· 五一行动走访名单：每周一 08:00" in shown.text
    [changed] = await bot.say(SECRETARY, "/schedule 走访名单 3 09:00")
    assert "· 五一行动走访名单：每周三 09:00" in changed.text
    [refused] = await bot.say(SECRETARY, "/schedule 走访 99")
    assert "5到10户" in refused.text
    [not_theirs] = await bot.say(HEAD1, "/schedule")
    assert "每周安排" not in not_theirs.text or "书记" in not_theirs.text


async def quiet_hours(bot: Harness, around_now: bool) -> None:
    """Set the estate's quiet hours around the present moment, or well away from it."""
    estate = await _estate(bot)
    now = datetime.now(ZONE)
    start = now - timedelta(hours=1) if around_now else now + timedelta(hours=2)
    async with bot.store.write() as session:
        await set_week(
            session,
            estate,
            "test",
            quiet_from=start.time().replace(second=0, microsecond=0),
            quiet_until=(start + timedelta(hours=2)).time().replace(second=0, microsecond=0),
        )


async def test_a_head_sends_a_notice_privately_and_sees_the_read_count(bot: Harness) -> None:
    await quiet_hours(bot, around_now=False)
    [ask] = await bot.say(HEAD1, "/notice")
    assert "通知内容" in ask.text
    [where] = await bot.say(HEAD1, "本周六上午停水，请提前储水。")
    sent = await bot.press(HEAD1, where, 1, count=1)
    assert "通知已发出：3处，已读0人" in sent[0].text
    [got] = await bot.server.wait_sent(R1, 1)
    assert "📢 通知：本周六上午停水" in got.text and "室" not in got.text
    await bot.press(R1, got, 0, count=0)
    async with asyncio.timeout(10):
        while "已读1人" not in bot.server.sent_to(HEAD1)[-1].text:
            await asyncio.sleep(0.05)
    await bot.press(R1, got, 0, count=0)  # pressed twice, counted once
    async with bot.store.read() as session:
        reads = await session.scalar(select(func.count()).select_from(NoticeRead))
    assert reads == 1


async def _estate(bot: Harness) -> int:
    async with bot.store.read() as session:
        estate = await session.scalar(select(Estate.id))
        assert estate is not None
        return estate


async def test_a_resident_turns_fee_reminders_on_in_me_and_the_export_holds_it(
    bot: Harness,
) -> None:
    [me] = await bot.say(R1, "/me")
    labels = [b["text"] for b in me.buttons()]
    assert "开启缴费提醒" in labels
    [on] = await bot.press(R1, me, labels.index("开启缴费提醒"))
    assert "已开启缴费提醒" in on.text
    [me] = await bot.say(R1, "/me")
    assert "（已开启缴费提醒）" in me.text
    assert "关闭缴费提醒" in [b["text"] for b in me.buttons()]
    estate = await _estate(bot)
    due = datetime.now(ZONE)
    async with bot.store.write() as session:
        replies = await fee_reminders(session, estate, due, await week_of(session, estate), DESK)
        exported = await export(session, R1)
    # Only the resident who asked, privately; the same words for everyone, no names or rooms.
    assert [r.chat_id for r in replies] == [R1]
    assert "缴费提醒" in replies[0].text and "室" not in replies[0].text
    assert "李" not in replies[0].text
    assert exported is not None
    assert [r["fee_reminders"] for r in exported["tables"]["resident"]] == [True]
    [me] = await bot.say(R1, "/me")
    labels = [b["text"] for b in me.buttons()]
    [off] = await bot.press(R1, me, labels.index("关闭缴费提醒"))
    assert "已关闭缴费提醒" in off.text
    async with bot.store.read() as session:
        assert await fee_reminders(session, estate, due, await week_of(session, estate), DESK) == []
        changes = list(
            await session.scalars(
                select(AuditEntry.after).where(AuditEntry.action == "resident.fee_reminders")
            )
        )
    assert changes == [{"on": True}, {"on": False}]


async def test_a_head_marks_a_cleaning_day_held_with_a_photo(bot: Harness) -> None:
    estate = await _estate(bot)
    async with bot.store.write() as session:
        week = await week_of(session, estate)
        replies = await cleaning_day(session, estate, datetime.now(ZONE), week, DESK)
        enqueue(session, replies, None)
    [asked] = await bot.server.wait_sent(HEAD1, 1)
    assert "今天的楼道卫生日开展了吗？" in asked.text
    assert [b["text"] for b in asked.buttons()] == ["已开展", "未开展"]
    [held] = await bot.press(HEAD1, asked, 0)
    assert "已开展" in held.text and "照片" in held.text
    [again] = await bot.say(HEAD1, "好的")
    assert "请发一张照片" in again.text
    message = bot.server.text_message(HEAD1, "")
    del message["message"]["text"]
    message["message"]["photo"] = [
        {"file_id": "small-one", "file_unique_id": "s1", "width": 90, "height": 90},
        {"file_id": "stairwell-photo", "file_unique_id": "s2", "width": 1280, "height": 960},
    ]
    seen = len(bot.server.sent_to(HEAD1))
    await bot.server.push_update(message)
    kept = (await bot.server.wait_sent(HEAD1, seen + 1))[seen]
    assert "照片已保存" in kept.text
    async with bot.store.read() as session:
        day = await session.scalar(select(CleaningDay))
        assert day is not None
        assert (day.state, day.photo, day.marked_by) == ("held", "stairwell-photo", HEAD1)
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("cleaning.marked") == 1 and actions.count("cleaning.photo") == 1
    # The building's other head answers after: the day is marked once, by whoever was first.
    [asked2] = await bot.server.wait_sent(HEAD2, 1)
    await bot.press(HEAD2, asked2, 1, count=0)
    assert bot.server.callback_answers[-1].get("text") == "这次卫生日已经登记过了。"


async def test_a_secretary_sends_a_notice_to_one_building_held_for_quiet_hours(
    bot: Harness,
) -> None:
    await quiet_hours(bot, around_now=True)  # so the notice waits unless marked urgent
    await bot.say(SECRETARY, "/notice")
    [scope] = await bot.say(SECRETARY, "本周六上午停水，请提前储水。")
    assert "发给哪里的住户" in scope.text
    assert [b["text"] for b in scope.buttons()] == ["全小区", "1栋"]
    [channel] = await bot.press(SECRETARY, scope, 1)
    assert [b["text"] for b in channel.buttons()] == ["发到楼栋群", "私信每户居民"]
    [quiet] = await bot.press(SECRETARY, channel, 1)
    assert "免打扰时段" in quiet.text
    [waits] = await bot.press(SECRETARY, quiet, 0)
    assert "免打扰时段，通知将在" in waits.text and "通知已发出：4处，已读0人" in waits.text
    async with bot.store.read() as session:
        held = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.chat_id.in_([R1, R1B, R2, R3]))
            )
        )
    assert len(held) == 4 and all(m.not_before is not None for m in held)
    assert all(m.sent_at is None for m in held)
    assert not bot.server.sent_to(R1)
    # Urgent: out now, to the building's group.
    await bot.say(SECRETARY, "/notice")
    [scope] = await bot.say(SECRETARY, "楼道起火，请立即撤离！")
    [channel] = await bot.press(SECRETARY, scope, 0)
    [quiet] = await bot.press(SECRETARY, channel, 0)
    [sent] = await bot.press(SECRETARY, quiet, 1)
    assert "通知已发出：1处，已读0人" in sent.text
    [posted] = await bot.server.wait_sent(GROUP, 1)
    assert "楼道起火" in posted.text


async def test_the_advert_prompt_is_marked_cleared_and_counted_in_the_summary(
    bot: Harness,
) -> None:
    estate = await _estate(bot)
    async with bot.store.write() as session:
        week = await week_of(session, estate)
        enqueue(
            session, await advert_prompts(session, estate, datetime.now(ZONE), week, DESK), None
        )
    [prompt] = await bot.server.wait_sent(HEAD1, 1)
    assert "清理牛皮癣" in prompt.text
    assert [b["text"] for b in prompt.buttons()] == ["已清理"]
    [done] = await bot.press(HEAD1, prompt, 0)
    assert "已清理" in done.text
    await bot.press(HEAD1, prompt, 0, count=0)  # pressed again: spent, refused
    assert bot.server.callback_answers[-1].get("text")
    async with bot.store.read() as session:
        recorded = await session.scalar(
            select(func.count()).where(AuditEntry.action == "advert.cleaned")
        )
        next_week = datetime.now(ZONE) + timedelta(weeks=1)
        summary = await summary_text(session, estate, next_week, DESK, Voice("zh_CN"))
    assert recorded == 1
    assert "清理牛皮癣：1个邻里单元已清理" in summary
