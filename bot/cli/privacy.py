"""`linzhang privacy`: a person's data exported or erased, and who looked at whose."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from bot.cli.common import fail, language, load_settings, open_store, run, say
from models.privacy import access_log, erase, export
from texts import t

ACTOR = "cli"

app = typer.Typer(help=t("cli.privacy.help", language()), no_args_is_help=True)
UserOpt = Annotated[int, typer.Option("--user", help=t("cli.roles.user.help", language()))]


def register(root: typer.Typer) -> None:
    """Add `privacy` to the command line."""
    root.add_typer(app, name="privacy")


@app.command("export", help=t("cli.privacy.export.help", language()))
def export_command(user: UserOpt) -> None:
    async def go() -> None:
        async with open_store() as store, store.read() as session:
            data = await export(session, user)
        if data is None:
            fail("cli.privacy.unknown", user=user)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    run(go())


@app.command("erase", help=t("cli.privacy.erase.help", language()))
def erase_command(
    user: UserOpt,
    yes: Annotated[bool, typer.Option("--yes", help=t("cli.privacy.yes.help", language()))] = False,
) -> None:
    if not yes:
        fail("cli.privacy.confirm", user=user)

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            done = await erase(session, user, ACTOR)
        if done is None:
            fail("cli.privacy.unknown", user=user)
        say("cli.privacy.erased", user=user, rows=done.rows_changed)

    run(go())


@app.command("access-log", help=t("cli.privacy.access_log.help", language()))
def access_log_command(
    user: Annotated[
        int | None, typer.Option("--user", help=t("cli.roles.user.help", language()))
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help=t("cli.privacy.since.help", language()))
    ] = None,
) -> None:
    zone = load_settings().zone

    async def go() -> None:
        async with open_store() as store, store.read() as session:
            entries = await access_log(session, user, since.replace(tzinfo=zone) if since else None)
        if not entries:
            say("cli.privacy.no_access")
            return
        for entry in entries:
            say(
                "cli.privacy.access_row",
                at=entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                viewer=entry.actor,
                user=entry.entity_id,
                purpose=(entry.after or {}).get("purpose", ""),
            )

    run(go())
