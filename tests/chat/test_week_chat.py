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
from models.cleaning_day import CleaningSignup
from models.notice import NoticeRead
from models.person import Person
from models.registry import Estate
from models.schedule_rule import week_of
from models.store import Store
from models.visit import Visit, VisitState
from scheduler.week import cleaning_eve, visit_lists
from tests.chat.harness import GROUP, Harness, running_bot
from tests.chat.test_requests_chat import seed_world
from tests.request_world import HEAD1, HEAD2, R1, SECRETARY

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path, seeder=seed_world) as harness:
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
    # "Found a problem" opens the filing on the household's behalf.
    [kinds] = await bot.press(HEAD1, recorded, 0)
    assert kinds.buttons(), kinds.text
    # The same row again (not at home after visited): spent, refused with a toast.
    await bot.press(HEAD1, listed, 1, count=0)
    assert bot.server.callback_answers[-1].get("text")
    # Another head pressing this head's list: refused, nothing written.
    await bot.press(HEAD2, listed, 3, count=0)
    assert bot.server.callback_answers[-1].get("text")
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
    assert visited == 1 and sorted(states.values()) == ["planned", "visited"]


async def test_households_lists_and_opens_a_card(bot: Harness) -> None:
    [listed] = await bot.say(HEAD1, "/households")
    assert "您联系的2户" in listed.text
    assert "1栋1单元101室：已登记2人，尚未走访" in listed.text
    [card] = await bot.press(HEAD1, listed, 0)
    assert "已登记居民：李秀英、李建国" in card.text
    [recorded] = await bot.press(HEAD1, card, 0)
    assert "已登记走访1栋1单元101室" in recorded.text
    [note] = await bot.say(HEAD1, "聊一聊，帮一帮修了门锁")
    assert "走访记录已保存" in note.text
    async with bot.store.read() as session:
        visit = await session.scalar(select(Visit))
        assert visit is not None and visit.ones == "chat,help" and visit.week <= date.today()


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


async def test_a_head_sends_a_notice_privately_and_sees_the_read_count(bot: Harness) -> None:
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
