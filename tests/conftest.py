"""Databases for tests: a real SQLite file always, the real PostgreSQL when asked for."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner, Result

from bot.config import settings
from models.migrate import upgrade
from models.store import Store, async_url

PG_REASON = "TEST_DATABASE_URL is not set; .ci/run sets it to the local PostgreSQL"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """Create one scratch database for the run on the server TEST_DATABASE_URL names."""
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        yield None
        return
    name = f"linzhang_test_{uuid.uuid4().hex[:12]}"
    admin = async_url(admin_url)

    async def admin_sql(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(sql))
        await engine.dispose()

    import asyncio

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None
) -> AsyncIterator[str]:
    """Yield the URL of an empty database: a SQLite file, then PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'linzhang.db'}"
        return
    if pg_database is None:
        pytest.skip(PG_REASON)
    yield await emptied(pg_database)


async def emptied(pg_database: str) -> str:
    """Empty the test PostgreSQL database (a new public schema); return its URL."""
    engine = create_async_engine(pg_database, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    return pg_database


@pytest.fixture
async def empty_store(database_url: str) -> AsyncIterator[Store]:
    """A store on a database with no tables at all."""
    store = Store(database_url)
    yield store
    await store.dispose()


@pytest.fixture
async def store(empty_store: Store) -> Store:
    """A store on a database migrated to the newest schema."""
    await upgrade(empty_store)
    return empty_store


Cli = Callable[..., Result]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """Run `linzhang ARGS...` in-process against the test database; return the result."""
    from bot.cli import build

    app = build()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LINZHANG_DATABASE_URL", database_url)
    monkeypatch.setenv("LINZHANG_LANGUAGE", "zh_CN")

    def invoke(*args: str, language: str = "zh_CN") -> Result:
        monkeypatch.setenv("LINZHANG_LANGUAGE", language)
        settings.cache_clear()
        # The command runs its own event loop; a thread keeps it apart from the test's loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(CliRunner().invoke, app, list(args)).result()

    return invoke


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return (
        Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
    )
