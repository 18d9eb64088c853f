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
        "已投 1 / 6 户，过半还需 3 户",
        "（只有徐桂兰看到）本户已投票。",
        "两次录入一致，已计入",
        "马建国 得 4 票",
        "马建国 当选邻长",
        "四员职责",
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
