"""What every command shares: settings, the store, localised output and error exits."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from bot.config import Settings, settings
from models.migrate import ensure_current
from models.problem import Problem
from models.store import Store
from texts import t

T = TypeVar("T")

# Exit statuses scripts can rely on: 0 done, 1 unexpected failure, 2 user mistake.
EXIT_USER = 2
EXIT_INTERNAL = 1

log = logging.getLogger("linzhang")


def language() -> str:
    """Return the operator's language for command-line output."""
    try:
        return settings().language
    except ValidationError:
        return "zh_CN"


def say(key: str, **params: Any) -> None:
    typer.echo(t(key, language(), **params))


def fail(key: str, **params: Any) -> NoReturn:
    """Print a one-line error in the operator's language and exit as a user mistake."""
    typer.echo(t("cli.error", language(), message=t(key, language(), **params)), err=True)
    raise typer.Exit(EXIT_USER)


def load_settings() -> Settings:
    try:
        return settings()
    except ValidationError as error:
        # Pydantic would echo the bad value back; print only which setting and why.
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        fail("cli.bad_settings", details=details)


@asynccontextmanager
async def open_store(*, check: bool = True) -> AsyncIterator[Store]:
    """Open the configured database; unless told not to, refuse one behind the newest schema."""
    store = Store(load_settings().database_url.get_secret_value())
    try:
        if check:
            await ensure_current(store)
        yield store
    finally:
        await store.dispose()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning user mistakes into one-line errors."""
    try:
        return asyncio.run(coroutine)
    except Problem as problem:
        fail(problem.key, **problem.params)
    except (typer.Exit, typer.Abort):
        raise
    except OSError as error:
        fail("cli.os_error", reason=str(error))
    except Exception:
        log.exception("unexpected failure")
        typer.echo(t("cli.internal_error", language()), err=True)
        sys.exit(EXIT_INTERNAL)
