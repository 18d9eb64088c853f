"""End to end over real HTTP: the local Bot API server, each runtime, SQLite, the handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.building_chat import BuildingChat
from models.person import Person, Resident
from tests.chat.harness import ADMIN, GROUP, NEIGHBOUR, RESIDENT, STRANGER, Harness, running_bot


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(request.param, tmp_path) as harness:
        yield harness


async def _count(bot: Harness, model: type) -> int:
    async with bot.store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_registration_with_consent(bot: Harness) -> None:
    [consent] = await bot.say(RESIDENT, f"/start {bot.payloads['101']}")
    assert "芙蓉花园1栋1单元101室" in consent.text and "是否同意" in consent.text
    assert [b["text"] for b in consent.buttons()] == ["同意并登记", "不同意"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in consent.buttons())
    [done] = await bot.press(RESIDENT, consent, 0)
    assert "登记成功" in done.text and "待选举" in done.text
    async with bot.store.read() as session:
        resident = await session.scalar(select(Resident))
        person = await session.get(Person, RESIDENT)
    assert resident is not None and resident.user_id == RESIDENT
    # The Telegram nickname is offered, never taken silently.
    assert person is not None and person.display_name is None
    assert "怎么称呼您" in done.text
    assert [b["text"] for b in done.buttons()] == ["用 Telegram 名字：张建国", "自己填写"]
    [named] = await bot.press(RESIDENT, done, 0)
    assert "张建国" in named.text
    [me] = await bot.say(RESIDENT, "/me")
    assert "芙蓉花园1栋1单元101室" in me.text and "张建国" in me.text
    assert str(RESIDENT) not in me.text  # nothing internal, the chat id included
    # A second resident of the same household may bind too; the first is told.
    [consent2] = await bot.say(NEIGHBOUR, f"/start {bot.payloads['101']}")
    await bot.press(NEIGHBOUR, consent2, 0)
    assert await _count(bot, Resident) == 2
    told = (await bot.server.wait_sent(RESIDENT, 5))[4]
    assert "李秀英" in told.text and "不是我家的人" in told.buttons()[0]["text"]


async def test_decline_stores_nothing(bot: Harness) -> None:
    [consent] = await bot.say(RESIDENT, f"/start {bot.payloads['102']}")
    [declined] = await bot.press(RESIDENT, consent, 1)
    assert "没有保存" in declined.text
    assert await _count(bot, Person) == 1  # only the estate admin appointed in the seed
    assert await _count(bot, Resident) == 0
    [me] = await bot.say(RESIDENT, "/me")
    assert "没有保存关于您的任何信息" in me.text


async def test_unknown_payload_and_no_payload(bot: Harness) -> None:
    [unknown] = await bot.say(RESIDENT, "/start NotARealPayload_123456")
    assert "已失效" in unknown.text
    [plain] = await bot.say(STRANGER, "/start")
    assert "contact card" in plain.text  # the stranger's client speaks English
    assert await _count(bot, Resident) == 0


async def test_group_binding_by_admin_and_refusals(bot: Harness) -> None:
    [refused] = await bot.say(STRANGER, f"/bind {bot.bind_code}", chat=GROUP)
    assert "estate admin" in refused.text or "小区管理员" in refused.text
    assert await _count(bot, BuildingChat) == 0
    [bad] = await bot.say(ADMIN, "/bind wrong-code", chat=GROUP)
    assert "绑定码无效" in bad.text
    [done] = await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    assert "已绑定到 芙蓉花园1栋" in done.text
    async with bot.store.read() as session:
        bound = await session.get(BuildingChat, GROUP)
    assert bound is not None and bound.bound_by == ADMIN
    [again] = await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    assert "绑定码无效" in again.text  # a code works once


async def test_estate_admin_who_is_not_chat_admin_is_refused(bot: Harness) -> None:
    bot.server.chats[GROUP].members[ADMIN] = "member"
    [refused] = await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    assert "群管理员" in refused.text
    assert await _count(bot, BuildingChat) == 0


async def test_joining_member_is_welcomed(bot: Harness) -> None:
    await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    before = len(bot.server.sent_to(GROUP))
    await bot.server.join(NEIGHBOUR, GROUP)
    sent = await bot.server.wait_sent(GROUP, before + 1)
    welcome = sent[before]
    assert "欢迎新邻居" in welcome.text and "芙蓉花园1栋" in welcome.text
    assert "李秀英" not in welcome.text  # a group sees no names
    assert welcome.buttons()[0]["url"] == "https://t.me/LinzhangTestBot"


async def test_one_join_reported_twice_is_welcomed_once(bot: Harness) -> None:
    """With the bot an administrator, Telegram reports one join as a member update and as a
    service message; either may come alone, so both are read and one welcome goes out."""
    await bot.say(ADMIN, f"/bind {bot.bind_code}", chat=GROUP)
    before = len(bot.server.sent_to(GROUP))
    await bot.server.join(NEIGHBOUR, GROUP)
    service = bot.server.text_message(NEIGHBOUR, "", GROUP)
    del service["message"]["text"]
    service["message"]["new_chat_members"] = [bot.server.users[NEIGHBOUR].as_json()]
    await bot.server.push_update(service)
    await bot.settle()
    welcomes = [s for s in bot.server.sent_to(GROUP)[before:] if "欢迎" in s.text]
    assert len(welcomes) == 1


async def test_help_by_role(bot: Harness) -> None:
    [resident] = await bot.say(RESIDENT, "/help")
    assert "/me" in resident.text and "/bind" not in resident.text
    [admin] = await bot.say(ADMIN, "/help")
    assert "/bind" in admin.text


async def test_language_choice_wins(bot: Harness) -> None:
    [ask] = await bot.say(RESIDENT, "/lang")
    [done] = await bot.press(RESIDENT, ask, 1)
    assert done.text == "Language set to English."
    [help_] = await bot.say(RESIDENT, "/help")
    assert "Commands you can use" in help_.text
    zh_menu = [c for k, c in bot.server.commands.items() if '"en"' not in k]
    en_menu = [c for k, c in bot.server.commands.items() if '"en"' in k]
    assert zh_menu and en_menu
    assert any(c["description"].startswith("我的登记信息") for menu in zh_menu for c in menu)


async def test_forwarded_command_is_not_obeyed(bot: Harness) -> None:
    before = len(bot.server.sent_to(RESIDENT))
    await bot.server.send_text(RESIDENT, f"/start {bot.payloads['101']}", forwarded=True)
    [reply] = (await bot.server.wait_sent(RESIDENT, before + 1))[before:]
    assert "转发" in reply.text
    assert not reply.buttons()


async def test_same_update_twice_has_one_effect(bot: Harness) -> None:
    update = {
        "message": {
            "message_id": 77,
            "date": 1764000000,
            "chat": {"id": RESIDENT, "type": "private", "first_name": "张建国"},
            "from": {
                "id": RESIDENT,
                "is_bot": False,
                "first_name": "张建国",
                "language_code": "zh-hans",
            },
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        }
    }
    await bot.server.push_update(update, update_id=9000)
    await bot.server.wait_sent(RESIDENT, 1)
    await bot.server.push_update(update, update_id=9000)
    await bot.settle()
    assert len(bot.server.sent_to(RESIDENT)) == 1


async def test_forged_and_stale_buttons_change_nothing(bot: Harness) -> None:
    [consent] = await bot.say(RESIDENT, f"/start {bot.payloads['101']}")
    # Another user pressing the resident's button, in their own chat or forging its data.
    answers = len(bot.server.callback_answers)
    await bot.server.press(STRANGER, consent, 0)
    await bot.server.wait_callback_answers(answers + 1)
    assert (
        bot.server.callback_answers[-1]["text"]
        == "This button is no longer valid; please start again."
    )
    data = consent.buttons()[0]["callback_data"]
    await bot.server.press(
        RESIDENT, consent, data=data[:-2] + ("AA" if data[-2:] != "AA" else "BB")
    )
    await bot.server.wait_callback_answers(answers + 2)
    assert "失效" in bot.server.callback_answers[-1]["text"]
    assert await _count(bot, Resident) == 0
    # The real press works once; pressing again (a stale step) changes nothing.
    await bot.press(RESIDENT, consent, 0)
    assert await _count(bot, Resident) == 1
    await bot.press(RESIDENT, consent, 1, count=0)
    assert "失效" in bot.server.callback_answers[-1]["text"]
    assert await _count(bot, Resident) == 1


async def test_unexpected_text_reasks_and_cancel_leaves(bot: Harness) -> None:
    await bot.say(RESIDENT, f"/start {bot.payloads['101']}")
    pending, again = await bot.say(RESIDENT, "好的", count=2)
    assert "请先点击下方按钮" in pending.text and len(again.buttons()) == 2
    [left] = await bot.say(RESIDENT, "/cancel")
    assert "已退出" in left.text
    [plain] = await bot.say(RESIDENT, "好的")
    assert "/help" in plain.text
