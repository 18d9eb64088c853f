"""The demo plays its whole walk-through on each runtime, and the database shows it happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli.chat import EXAMPLE_ROSTER
from bot.demo import run_demo
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
        # The simulated week (bot/demo_week.py).
        "本周五一行动走访名单（5户）",
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
