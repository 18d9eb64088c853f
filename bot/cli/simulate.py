"""`linzhang simulate`: a district the size of Hetang with a year of activity, in an empty
database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from bot.cli.common import fail, language, load_settings, open_store, run, say
from models.simulation import Size, simulate
from texts import t


def register(app: typer.Typer) -> None:
    @app.command("simulate", help=t("cli.simulate.help", language()))
    def simulate_command(
        scale: Annotated[
            float, typer.Option("--scale", help=t("cli.simulate.scale.help", language()))
        ] = 1.0,
        year: Annotated[
            int | None, typer.Option("--year", help=t("cli.simulate.year.help", language()))
        ] = None,
        seed: Annotated[
            int, typer.Option("--seed", help=t("cli.simulate.seed.help", language()))
        ] = 1,
    ) -> None:
        if not 0 < scale <= 10:
            fail("cli.simulate.bad_scale", scale=scale)
        when = year or datetime.now(load_settings().zone).year

        async def go() -> None:
            async with open_store() as store, store.write() as session:
                try:
                    built = await simulate(session, Size().scaled(scale), when, seed)
                except ValueError:
                    fail("cli.simulate.not_empty")
            say(
                "cli.simulate.done",
                estates=built.estates,
                households=built.households,
                heads=built.heads,
                requests=built.requests,
                year=when,
            )

        run(go())
