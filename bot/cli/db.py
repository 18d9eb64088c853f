"""`linzhang db`: migrate the database and show where it stands."""

from __future__ import annotations

import typer

from bot.cli.common import language, open_store, run, say
from models.migrate import current_revision, head_revision, upgrade
from texts import t

app = typer.Typer(help=t("cli.db.help", language()), no_args_is_help=True)


@app.command("upgrade", help=t("cli.db.upgrade.help", language()))
def upgrade_command() -> None:
    async def go() -> None:
        async with open_store(check=False) as store:
            before = await current_revision(store)
            await upgrade(store)
        say("cli.db.upgraded", before=before or "-", head=head_revision())

    run(go())


@app.command("current", help=t("cli.db.current.help", language()))
def current_command() -> None:
    async def go() -> None:
        async with open_store(check=False) as store:
            current = await current_revision(store)
        say("cli.db.current", current=current or "-", head=head_revision())

    run(go())
