"""A resident's data: read back in chat, exported whole, erased without a trace while every
figure stays; the residents who left erased after the retention period; staff looks on record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import BigInteger, Integer, select, text

from models import schema
from models.base import utcnow
from models.figures import Period, report
from models.person import Person, Resident
from models.privacy import (
    DELETED_WITH_PERSON,
    KEPT_UNDER_PSEUDONYM,
    access_log,
    erase,
    export,
)
from models.request_counts import counters
from models.store import Store
from scheduler.retention import erase_departed
from tests.chat.harness import Harness, running_bot
from tests.chat.test_requests_chat import seed_world
from tests.conftest import Cli
from tests.request_world import HEAD1, NAMES, R1, R1B

PHONE = "13812345678"
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["ptb", "aiogram"])
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Harness]:
    async with running_bot(
        request.param, tmp_path, database_url=database_url, seeder=seed_world
    ) as harness:
        yield harness


async def _file_and_sign(bot: Harness) -> None:
    """R1 gives a phone in a request, files it; the head's card shows R1; the head signs."""
    async with bot.store.write() as session:
        person = await session.get_one(Person, R1)
        person.phone = PHONE
    [kinds] = await bot.say(R1, "/request")
    await bot.press(R1, kinds, 0)
    [confirm] = await bot.say(R1, f"楼道灯坏了，我是{NAMES[R1]}，电话{PHONE}")
    await bot.press(R1, confirm, 0)
    card = (await bot.server.wait_sent(HEAD1, 1))[0]
    await bot.press(HEAD1, card, 0, count=0)
    await bot.settle()


async def _everything(store: Store) -> list[tuple[str, str, object]]:
    """Every value of every row of every table, as (table, column, value)."""
    found = []
    async with store.read() as session:
        for table in schema.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    found.append((table.name, column, value))
    return found


async def test_export_then_erase_leaves_no_trace_and_the_figures(bot: Harness) -> None:
    await _file_and_sign(bot)
    [me] = await bot.say(R1, "/me")
    [mine] = await bot.press(R1, me, len(me.buttons()) - 1)
    assert "本系统保存的您的信息" in mine.text and NAMES[R1] in mine.text
    assert "芙蓉花园1栋1单元101室" in mine.text and "FRHY-" in mine.text
    await bot.settle()

    year = Period(date(2000, 1, 1), date(2100, 12, 31))
    async with bot.store.read() as session:
        data = await export(session, R1)
        before = await counters(session)
        figures_before = await report(session, None, year, ZONE)
    assert data is not None and data["person"]["display_name"] == NAMES[R1]
    assert data["person"]["phone"] == PHONE
    assert [r["household_id"] for r in data["tables"]["resident"]]
    assert data["tables"]["request"][0]["description"].startswith("楼道灯坏了")
    assert data["tables"]["messages_to_you"] and data["tables"]["audit_log"]

    async with bot.store.write() as session:
        done = await erase(session, R1, "cli")
    assert done is not None and done.pseudonym < 0

    name = NAMES[R1]
    escaped = json.dumps(name)[1:-1]
    for table, column, value in await _everything(bot.store):
        shown = json.dumps(value, default=str, ensure_ascii=False)
        assert name not in shown and escaped not in shown, (table, column, value)
        assert PHONE not in shown, (table, column, value)
        assert value != R1 and value != str(R1) and f"user:{R1}" not in shown, (table, column)
        if isinstance(value, dict | list):
            assert f": {R1}," not in shown and f": {R1}}}" not in shown, (table, column)
    async with bot.store.read() as session:
        assert await counters(session) == before
        assert await report(session, None, year, ZONE) == figures_before
        # The household's other member and the head are untouched.
        assert (await session.get_one(Person, R1B)).display_name == NAMES[R1B]
        assert (await session.get_one(Person, HEAD1)).display_name == NAMES[HEAD1]


async def test_staff_looks_are_on_record(bot: Harness, cli: Cli) -> None:
    await _file_and_sign(bot)
    async with bot.store.read() as session:
        looks = await access_log(session, R1)
    assert [(e.actor, e.entity_id) for e in looks][:1] == [(f"user:{HEAD1}", str(R1))]
    shown = cli("privacy", "access-log", "--user", str(R1))
    assert f"user:{HEAD1}" in shown.output and "request_card" in shown.output


async def test_residents_who_left_are_erased_after_the_retention_period(bot: Harness) -> None:
    async with bot.store.write() as session:
        binding = await session.scalar(select(Resident).where(Resident.user_id == R1B))
        assert binding is not None
        binding.unbound_at = utcnow() - timedelta(days=200)
        binding.unbound_reason = "left"
    assert await erase_departed(bot.store, timedelta(days=365), utcnow()) == 0
    assert await erase_departed(bot.store, timedelta(days=180), utcnow()) == 1
    async with bot.store.read() as session:
        assert await session.get(Person, R1B) is None
        assert await session.get(Person, R1) is not None  # still living there


def test_every_column_that_can_hold_a_person_is_declared() -> None:
    """A new table with a person's id must say what erasing does to it."""
    declared = {(t, c) for t, cs in KEPT_UNDER_PSEUDONYM.items() for c in cs}
    declared |= set(DELETED_WITH_PERSON.items())
    handled_apart = {
        ("person", "user_id"),
        ("outbox_message", "chat_id"),
        ("outbox_message", "cause_user_id"),
    }
    # Wide integer columns that are never a person: Telegram's own ids of things.
    not_people = {
        ("inbox_update", "bot_id"),
        ("inbox_update", "update_id"),
        ("outbox_message", "message_id"),
        ("request", "group_chat_id"),
        ("building_chat", "chat_id"),
        ("button_token", "chat_id"),
        ("conversation", "chat_id"),
        ("group_welcome", "chat_id"),
    }
    wide = {
        (table.name, column.name)
        for table in schema.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, BigInteger)
        or (isinstance(column.type, Integer) and column.name.endswith(("user_id", "_by")))
    }
    undeclared = wide - declared - handled_apart - not_people
    assert not undeclared, f"say in models/privacy.py what erasing does to {sorted(undeclared)}"


async def test_erase_refuses_without_confirmation(cli: Cli, store: Store) -> None:
    refused = cli("privacy", "erase", "--user", "424242")
    assert refused.exit_code != 0 and "--yes" in refused.output
    unknown = cli("privacy", "erase", "--user", "424242", "--yes")
    assert unknown.exit_code != 0 and "424242" in unknown.output
    async with store.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM person"))).scalar() == 0
