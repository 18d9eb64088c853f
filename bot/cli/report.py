"""`linzhang report`: the figures the district reports, counted from what the bot holds."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, language, load_settings, open_store, run
from handlers.figures_out import as_json, as_table, as_xlsx
from models.figures import Unit, parse_period, report
from models.scope import resolve_scope
from texts import t


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    XLSX = "xlsx"
    PNG = "png"


def register(app: typer.Typer) -> None:
    @app.command("report", help=t("cli.report.help", language()))
    def report_command(
        scope: Annotated[
            str | None, typer.Option("--scope", help=t("cli.report.scope.help", language()))
        ] = None,
        period: Annotated[
            str | None, typer.Option("--period", help=t("cli.report.period.help", language()))
        ] = None,
        form: Annotated[
            Format, typer.Option("--format", help=t("cli.report.format.help", language()))
        ] = Format.TABLE,
        out: Annotated[
            Path | None, typer.Option("--out", help=t("cli.report.out.help", language()))
        ] = None,
    ) -> None:
        settings = load_settings()
        zone = settings.zone
        today = datetime.now(zone).date()
        try:
            when = parse_period(period or str(today.year), today)
        except ValueError:
            fail("cli.report.bad_period", value=period)
        if form in (Format.XLSX, Format.PNG) and out is None:
            fail("cli.report.needs_out")

        async def go() -> None:
            async with open_store() as store, store.read() as session:
                where = await resolve_scope(session, scope) if scope else None
                unit = Unit(where.kind.value, where.id, where.spoken) if where else None
                found = await report(session, unit, when, zone)
            if form is Format.JSON:
                typer.echo(json.dumps(as_json(found), ensure_ascii=False, indent=2))
            elif form is Format.XLSX:
                assert out is not None
                as_xlsx(found, language(), out)
                typer.echo(t("cli.report.written", language(), path=out))
            elif form is Format.PNG:
                from handlers.figures_chart import chart  # matplotlib only when drawing

                assert out is not None
                out.write_bytes(chart(found, language(), settings.cjk_font))
                typer.echo(t("cli.report.written", language(), path=out))
            else:
                typer.echo(as_table(found, language()))

        run(go())
