"""Every read sees what the database holds: sessions behave as SQLAlchemy documents them.

Rows written by Core or raw SQL in the same transaction, rows of an earlier transaction of the
same session, and joins over several tables are all seen; nothing in the program keeps an
answer the database has since changed.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, text

from handlers.batch import Batch
from handlers.households import head_line, household_label
from handlers.speech import Voice
from models.person import Person, Resident
from models.registry import Household
from models.role import Grant, Role, RoleAssignment, grant_role, live_assignments
from models.scope import resolve_scope
from models.store import Store
from tests.registry_factory import make_estate

TODAY = date(2026, 12, 3)


async def test_a_row_inserted_by_core_or_raw_sql_is_seen(store: Store) -> None:
    async with store.write() as session:
        await make_estate(session)
        assert await session.get(Person, 1) is None
        await session.execute(insert(Person), [{"user_id": 1, "display_name": "甲"}])
        assert (await session.get_one(Person, 1)).display_name == "甲"
        await session.execute(
            text(
                "INSERT INTO person (user_id, display_name, phone_on_card, created_at) "
                "VALUES (2, '乙', false, CURRENT_TIMESTAMP)"
            )
        )
        assert (await session.get_one(Person, 2)).display_name == "乙"
        household = await session.scalar(select(Household))
        assert household is not None
        await session.execute(insert(Resident), [{"household_id": household.id, "user_id": 2}])
        bound = await session.scalars(select(Resident.user_id).where(Resident.user_id == 2))
        assert list(bound) == [2]


async def test_a_second_transaction_of_one_session_sees_the_first(store: Store) -> None:
    async with store.write() as session:
        await make_estate(session)
    async with store._write() as session:
        async with session.begin():
            assert await session.get(Person, 7) is None
            assert await live_assignments(session, user_id=7) == []
        async with session.begin():
            await session.execute(insert(Person), [{"user_id": 7, "display_name": "丙"}])
            estate = await resolve_scope(session, "estate:芙蓉花园")
            await session.execute(
                insert(RoleAssignment),
                [
                    {
                        "user_id": 7,
                        "role": Role.SECRETARY.value,
                        "force": "",
                        "scope_kind": "estate",
                        "scope_id": estate.id,
                        "granted_by": "test",
                    }
                ],
            )
        async with session.begin():
            assert await session.get(Person, 7) is not None
            assert [a.role for a in await live_assignments(session, user_id=7)] == ["secretary"]


async def test_a_join_over_several_tables_follows_each_change(store: Store) -> None:
    say = Voice("zh_CN")
    async with store.write() as session:
        await make_estate(session)
        household = await session.scalar(select(Household).where(Household.room == "101"))
        assert household is not None
        assert await household_label(session, household) == "芙蓉花园1栋1单元101室"
        assert await head_line(session, household, TODAY, say) == "您家的邻长：待选举"
        group = await resolve_scope(session, "group:芙蓉花园/1栋/1单元")
        await grant_role(
            session, Grant(9, Role.NEIGHBOUR_HEAD, group, display_name="李阿姨"), "test", TODAY
        )
        # The head's name comes from another table, changed by raw SQL after the grant.
        assert await head_line(session, household, TODAY, say) == "您家的邻长：李阿姨"
        await session.execute(text("UPDATE person SET display_name = '李秀英' WHERE user_id = 9"))
        assert await head_line(session, household, TODAY, say) == "您家的邻长：李秀英"
        await session.execute(text("UPDATE building SET name = '一栋'"))
        assert await household_label(session, household) == "芙蓉花园一栋1单元101室"


async def test_what_a_batch_reads_together_it_keeps_in_step(store: Store) -> None:
    """The batch's own reads (languages, conversations) change only through the batch."""
    async with store.write() as session:
        session.add(Person(user_id=3, language="en"))
        await session.flush()
        batch = Batch(session)
        assert await batch.language(3) == "en" and await batch.language(4) is None
        (await batch.person_or_new(4)).language = "zh_CN"
        assert await batch.language(4) == "zh_CN"
        await batch.conversations.load([(3, 3)])
        assert await batch.conversations.current(3, 3) is None
        from handlers.requests import Step

        await batch.conversations.begin(3, 3, "request", Step.KIND, {})
        assert (await batch.conversations.current(3, 3)) is not None
        assert await batch.conversations.end(3, 3)
        # Ended and begun again in one transaction: the new one, one row.
        await batch.conversations.begin(3, 3, "request", Step.DESCRIBE, {"kind": "service"})
    async with store.read() as session:
        rows = list(await session.execute(text("SELECT step FROM conversation")))
    assert rows == [("describe",)]
