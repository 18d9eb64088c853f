"""Bring a database to the newest schema, and tell when one is behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from models.problem import Problem
from models.store import Store

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    # Alembic is imported when migrating, not by every command that only checks the schema.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """Return the newest revision, read from the migrations' file names, not through Alembic.

    Every command checks the schema; importing Alembic's script machinery (and Mako with it)
    for that cost a fifth of a second. Each migration is named after its revision
    (`0013_request_timing.py` holds revision "0013"), which a test checks against Alembic.
    """
    names = sorted(path.name for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    assert names, "no migrations"
    return names[-1].split("_", 1)[0]


def alembic_head_revision() -> str:
    """Return the head revision as Alembic reads the chain, for the test of the naming rule."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


async def current_revision(store: Store) -> str | None:
    """Return the revision the database is at, None for an empty database."""
    async with store.engine.connect() as connection:
        try:
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            return None  # no table yet: an empty database
        return None if found is None else str(found)


async def upgrade(store: Store, revision: str = "head") -> None:
    """Migrate the database to a revision, head by default, in one transaction."""
    from alembic import command

    await _run(store, command.upgrade, revision)


async def downgrade(store: Store, revision: str) -> None:
    from alembic import command

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
