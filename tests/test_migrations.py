"""Migrations bring an empty database to head, and match the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from models.migrate import (
    alembic_config,
    alembic_head_revision,
    current_revision,
    downgrade,
    ensure_current,
    head_revision,
    upgrade,
)
from models.problem import Problem
from models.schema import metadata
from models.store import Store


async def test_empty_database_reaches_head(empty_store: Store) -> None:
    assert await current_revision(empty_store) is None
    await upgrade(empty_store)
    assert await current_revision(empty_store) == head_revision()
    async with empty_store.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"household", "role_assignment", "audit_log", "contact_card"} <= tables


def test_each_migration_is_named_after_its_revision() -> None:
    from alembic.script import ScriptDirectory

    scripts = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert scripts
    for script in scripts:
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
    # The schema check reads the head from the names: it must be the head Alembic finds.
    assert head_revision() == alembic_head_revision()


async def test_models_match_migrations(store: Store) -> None:
    async with store.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), metadata
            )
        )
    assert diff == []


async def test_database_behind_head_is_refused(store: Store) -> None:
    await ensure_current(store)
    await downgrade(store, "base")
    with pytest.raises(Problem) as raised:
        await ensure_current(store)
    assert raised.value.key == "db.behind"
    await upgrade(store)
    await ensure_current(store)


async def test_estates_imported_before_references_get_their_prefix(empty_store: Store) -> None:
    await upgrade(empty_store, "0004")
    async with empty_store.engine.begin() as connection:
        await connection.execute(text("INSERT INTO street (id, name) VALUES (1, '月塘街道')"))
        await connection.execute(
            text("INSERT INTO community (id, street_id, name) VALUES (1, 1, '芙蓉社区')")
        )
        await connection.execute(
            text("INSERT INTO estate (id, community_id, name) VALUES (1, 1, '芙蓉花园')")
        )
    await upgrade(empty_store)
    async with empty_store.engine.connect() as connection:
        prefix = await connection.scalar(text("SELECT prefix FROM estate WHERE id = 1"))
    assert prefix == "FRHY"
