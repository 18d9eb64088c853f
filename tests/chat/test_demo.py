"""The demo plays its whole walk-through on each runtime, and the database shows it happened."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli.chat import EXAMPLE_ROSTER
from bot.demo import TOKEN, run_demo
from bot.logs import configure
from models.request import Request, State
from models.store import Store


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_demo_walks_through_registration_binding_and_a_request(
    runtime: str, tmp_path: Path
) -> None:
    lines: list[str] = []
    database = tmp_path / "demo.db"
    await run_demo(database, EXAMPLE_ROSTER, runtime, "zh_CN", lines.append)
    transcript = "\n".join(lines)
    shown = (
        "登记成功",
        "电话 139 0733 1234",
        "今后称呼您“王秀英”",
        "本群已绑定到",
        "欢迎新邻居",
        "已提交",
        "待小区党支部决定",
        "谢谢您的评价",
        "已投 1 / 6 户，过半还需 3 户",
        "（只有徐桂兰看到）本户已投票。",
        "李静已接受提名",
        "两位监票员录入一致，已计入",
        "马建国 得 4 票",
        "马建国 当选邻长",
        "四员职责",
        # The simulated week (bot/demo_week.py).
        "本周五一行动走访名单（5户）",
        "已记录：看一看、聊一聊。",
        "已代 芙蓉花园1栋1单元202室 提交",
        "本周还有4户未走访",
        "接龙（2人）： / 王秀英、张主任",
        "李阿姨：1/5户",
    )
    for expected in shown:
        assert expected in transcript, expected
    assert "赵敏" not in "\n".join(line for line in lines if "【群" in line)
    store = Store(f"sqlite+aiosqlite:///{database}")
    async with store.read() as session:
        request = await session.scalar(select(Request))
    await store.dispose()
    assert request is not None and request.state == State.CONFIRMED
    assert request.rating == "satisfied" and request.force == "property"


@pytest.mark.parametrize("runtime", ["ptb", "aiogram"])
async def test_the_demo_logs_no_token_phone_or_name(
    runtime: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every log line of the whole walk-through, at the level `linzhang run` logs at."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(level=logging.INFO, secrets=(TOKEN,))
        await run_demo(tmp_path / "demo.db", EXAMPLE_ROSTER, runtime, "zh_CN", lambda _: None)
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    logged = capfd.readouterr().err
    assert logged.strip(), "the walk-through logs something, or this test checks nothing"
    with EXAMPLE_ROSTER.open(encoding="utf-8") as rows:
        roster = list(csv.DictReader(rows))
    # The roster's householders and the people the walk-through plays.
    names = {row["户主"] for row in roster} | {"张主任", "李阿姨", "周书记", "物业小陈", "赵敏"}
    phones = {re.sub(r"\D", "", row["电话"]) for row in roster if row["电话"]}
    for line in logged.splitlines():
        assert TOKEN not in line and TOKEN.split(":")[1] not in line, line
        assert not [name for name in names if name in line], line
        digits = re.sub(r"\D", "", line)
        assert not [phone for phone in phones if phone in digits], line
