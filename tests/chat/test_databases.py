"""The main chat path on each database: PostgreSQL claims inbox rows with SKIP LOCKED."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from models.inbox import InboxUpdate
from models.person import Resident
from tests.chat.harness import RESIDENT, running_bot


async def test_registration_and_duplicate_update(database_url: str, tmp_path: Path) -> None:
    async with running_bot("ptb", tmp_path, database_url=database_url) as bot:
        [consent] = await bot.say(RESIDENT, f"/start {bot.payloads['101']}")
        [done] = await bot.press(RESIDENT, consent, 0)
        assert "登记成功" in done.text
        update = {
            "message": {
                "message_id": 5,
                "date": 1764000000,
                "chat": {"id": RESIDENT, "type": "private", "first_name": "张建国"},
                "from": {"id": RESIDENT, "is_bot": False, "first_name": "张建国"},
                "text": "/me",
                "entities": [{"type": "bot_command", "offset": 0, "length": 3}],
            }
        }
        before = len(bot.server.sent_to(RESIDENT))
        await bot.server.push_update(update, update_id=777)
        await bot.server.push_update(update, update_id=777)
        await bot.settle()
        assert len(bot.server.sent_to(RESIDENT)) == before + 1
        async with bot.store.read() as session:
            residents = await session.scalar(select(func.count()).select_from(Resident))
            rows = await session.scalar(
                select(func.count()).select_from(InboxUpdate).where(InboxUpdate.update_id == 777)
            )
        assert residents == 1 and rows == 1
