"""The `linzhang` command line: one Typer app, one module per command group."""

from __future__ import annotations

import logging

import typer

from bot.cli import (
    calendar,
    cards,
    chat,
    db,
    deadlines,
    election,
    people,
    privacy,
    report,
    roles,
    roster,
    schedule,
    simulate,
)
from bot.cli.common import language
from texts import t

app = typer.Typer(
    name="linzhang",
    help=t("cli.help", language()),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(roles.app, name="roles")
app.add_typer(calendar.app, name="calendar")
app.add_typer(deadlines.app, name="deadlines")
app.add_typer(schedule.app, name="schedule")
app.add_typer(election.app, name="election")
roster.register(app)
cards.register(app)
chat.register(app)
report.register(app)
people.register(app)
privacy.register(app)
simulate.register(app)


def main() -> None:
    """Run the command line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
