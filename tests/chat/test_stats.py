"""/stats in chat: each secretary or staff member sees the figures of their own unit, with a
chart; anyone else is refused."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.registry import Household
from models.request import RequestKind
from models.request_flow import Clock, file_request
from models.workdays import WorkCalendar
from tests.chat.harness import Harness, running_bot
from tests.chat.test_requests_chat import seed_world
from tests.request_world import R1, SECRETARY, STREET_STAFF

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path, seeder=seed_world) as harness:
        yield harness


async def _an_opinion(bot: Harness) -> None:
    now = datetime.now(ZONE)
    async with bot.store.write() as session:
        household = await session.get_one(Household, 1)
        clock = Clock(WorkCalendar(), ZONE, now)
        await file_request(session, household, R1, RequestKind.OPINION, "小区路灯太暗", clock)


async def test_each_sees_their_own_unit(bot: Harness) -> None:
    await _an_opinion(bot)
    text, picture = await bot.say(SECRETARY, "/stats", count=2)
    first = date.today().replace(day=1)
    assert text.text.startswith(f"芙蓉花园 统计（{first}")
    assert "收集社情民意：1" in text.text and "按时签收率：暂无" in text.text
    assert picture.method == "sendPhoto" and picture.file is not None
    assert Image.open(io.BytesIO(picture.file)).format == "PNG"
    [street, _] = await bot.say(STREET_STAFF, "/stats", count=2)
    assert street.text.startswith("月塘街道 统计") and "收集社情民意：1" in street.text


async def test_a_resident_is_refused(bot: Harness) -> None:
    [refused] = await bot.say(R1, "/stats")
    assert "书记" in refused.text and "统计" not in refused.text
