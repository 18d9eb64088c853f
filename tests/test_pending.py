"""A session that flushes only when a statement touches what it changed still reads its writes."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import event, func, select, text, update

from models.contact_card import heads_of_groups
from models.pending import flush_when_touched
from models.person import Person
from models.registry import Household
from models.store import Store
from tests.registry_factory import make_estate


class Inserts:
    """Count the INSERT statements a store sends."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.count += statement.startswith("INSERT")


async def test_changes_wait_until_a_statement_touches_their_table(store: Store) -> None:
    inserts = Inserts(store)
    async with store.write() as session:
        await make_estate(session)
        flush_when_touched(session)
        before = inserts.count
        session.add_all(
            [Person(user_id=1, display_name="甲"), Person(user_id=2, display_name="乙")]
        )
        assert await session.scalar(select(func.count()).select_from(Household)) == 2
        assert inserts.count == before  # households say nothing about people: nothing written

        assert await session.scalar(select(func.count()).select_from(Person)) == 2
        assert inserts.count == before + 1  # both people, one statement

        session.add(Person(user_id=3, display_name="丙"))
        assert await heads_of_groups(session, {1}, date.today()) == {}
        assert inserts.count == before + 2  # a join through person touches it

        session.add(Person(user_id=4, display_name="丁"))
        await session.execute(update(Person).where(Person.user_id == 4).values(phone="138"))
        assert await session.scalar(select(Person.phone).where(Person.user_id == 4)) == "138"

        session.add(Person(user_id=5, display_name="戊"))
        count = await session.scalar(text("SELECT count(*) FROM person"))
        assert count == 5  # a statement whose tables are not known flushes everything
