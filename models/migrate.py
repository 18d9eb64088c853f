"""Bring a database to the newest schema, and tell when one is behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from models.problem import Problem
from models.store import Store

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


async def current_revision(store: Store) -> str | None:
    """Return the revision the database is at, None for an empty database."""
    async with store.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(store: Store, revision: str = "head") -> None:
    """Migrate the database to a revision, head by default, in one transaction."""
    await _run(store, command.upgrade, revision)


async def downgrade(store: Store, revision: str) -> None:
    await _run(store, command.downgrade, revision)


async def ensure_current(store: Store) -> None:
    """Refuse to go on with a database whose schema is not the newest."""
    current = await current_revision(store)
    if current != head_revision():
        raise Problem("db.behind", current=current or "-", head=head_revision())


async def _run(store: Store, action: Any, revision: str) -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        action(config, revision)

    async with store.engine.execution_options(linzhang_write=True).begin() as connection:
        await connection.run_sync(run)
