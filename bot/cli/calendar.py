"""`linzhang calendar import FILE`: load the State Council's holiday schedule for a year."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import language, open_store, run, say
from models.audit import audit
from models.workdays import import_schedule, parse_schedule
from texts import t

app = typer.Typer(help=t("cli.calendar.help", language()), no_args_is_help=True)


@app.command("import", help=t("cli.calendar.import.help", language()))
def import_command(
    file: Annotated[Path, typer.Argument(help=t("cli.calendar.file.help", language()))],
) -> None:
    async def go() -> None:
        days = parse_schedule(file.read_text(encoding="utf-8-sig"))
        async with open_store() as store, store.write() as session:
            count = await import_schedule(session, days)
            years = sorted({day.year for day, _, _ in days})
            audit(session, "cli", "calendar.import", "calendar", ",".join(map(str, years)))
        say("cli.calendar.imported", count=count, years=", ".join(map(str, years)) or "-")

    run(go())
