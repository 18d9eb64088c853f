"""`linzhang schedule`: an estate's week — when each push goes out, quiet hours, visits a week."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import language, open_store, run
from handlers.schedule import apply_words, describe_week
from handlers.speech import Voice
from models.schedule_rule import week_of
from models.scope import resolve_scope
from texts import t

app = typer.Typer(help=t("cli.schedule.help", language()), no_args_is_help=True)

EstateOpt = Annotated[str, typer.Option("--estate", help=t("cli.schedule.estate.help", language()))]


@app.command("show", help=t("cli.schedule.show.help", language()))
def show_command(estate: EstateOpt) -> None:
    async def go() -> None:
        async with open_store() as store, store.read() as session:
            scope = await resolve_scope(session, f"estate:{estate}")
            week = await week_of(session, scope.id)
        typer.echo(describe_week(week, Voice(language())))

    run(go())


@app.command("set", help=t("cli.schedule.set.help", language()))
def set_command(
    estate: EstateOpt,
    words: Annotated[list[str], typer.Argument(help=t("cli.schedule.words.help", language()))],
) -> None:
    async def go() -> None:
        async with open_store() as store:
            async with store.write() as session:
                scope = await resolve_scope(session, f"estate:{estate}")
                await apply_words(session, scope.id, words, "cli")
            async with store.read() as session:
                week = await week_of(session, scope.id)
        typer.echo(describe_week(week, Voice(language())))

    run(go())
