"""`linzhang report`: the figures the district reports, counted from what the bot holds."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import language, open_store, run, say
from models.request_counts import counters, estates_in
from models.scope import resolve_scope
from texts import t


def register(app: typer.Typer) -> None:
    @app.command("report", help=t("cli.report.help", language()))
    def report_command(
        scope: Annotated[
            str | None, typer.Option("--scope", help=t("cli.report.scope.help", language()))
        ] = None,
    ) -> None:
        async def go() -> None:
            async with open_store() as store, store.read() as session:
                where = await resolve_scope(session, scope) if scope else None
                estates = await estates_in(session, where) if where else None
                found = await counters(session, estates)
            say(
                "cli.report.figures",
                scope=str(where) if where else t("cli.report.district", language()),
                opinions=found.opinions_collected,
                disputes=found.disputes_mediated,
                services=found.services_resolved,
                households=found.households_linked,
            )

        run(go())
