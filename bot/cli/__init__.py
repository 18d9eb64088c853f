"""The `linzhang` command line: one Typer app, one module per command group."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable

import typer

from bot.cli.common import language
from texts import t

# Each command's module, imported only when that command runs: importing all of them cost
# half a second of every command's start (`linzhang report` must answer in under 1.5 s).
# A group's module offers its Typer `app`; any other module adds its commands in `register`.
GROUPS = {
    "db": "db",
    "roles": "roles",
    "calendar": "calendar",
    "deadlines": "deadlines",
    "schedule": "schedule",
    "election": "election",
}
COMMANDS = {
    "import-roster": "roster",
    "cards": "cards",
    "run": "chat",
    "demo": "chat",
    "bind-code": "chat",
    "report": "report",
    "people": "people",
    "residents": "people",
    "estate": "people",
    "privacy": "privacy",
    "simulate": "simulate",
}


def build(names: Iterable[str] | None = None) -> typer.Typer:
    """Return the command line with the named commands, or with every command."""
    wanted = list(GROUPS) + list(COMMANDS) if names is None else list(names)
    app = typer.Typer(
        name="linzhang",
        help=t("cli.help", language()),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    # With one command and no callback Typer would run that command as the whole program.
    @app.callback()
    def root() -> None:
        pass

    registered: set[str] = set()
    for name in wanted:
        if name in GROUPS:
            app.add_typer(importlib.import_module(f"bot.cli.{GROUPS[name]}").app, name=name)
        elif COMMANDS[name] not in registered:
            registered.add(COMMANDS[name])
            importlib.import_module(f"bot.cli.{COMMANDS[name]}").register(app)
    return app


def main() -> None:
    """Run the command line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    known = command in GROUPS or command in COMMANDS
    build([command] if known and command is not None else None)()
