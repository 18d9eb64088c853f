"""`linzhang run`, `linzhang demo` and `linzhang bind-code`: the chat runtime's commands."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from bot.cli.common import fail, language, load_settings, open_store, run, say
from bot.logs import configure
from models.building_chat import new_bind_code
from models.registry import Building
from models.scope import find_estate
from texts import t

EXAMPLE_ROSTER = Path(__file__).resolve().parents[2] / "examples" / "roster.csv"


def register(app: typer.Typer) -> None:
    """Add the chat runtime's commands to the command line."""
    app.command("run", help=t("cli.run.help", language()))(run_command)
    app.command("demo", help=t("cli.demo.help", language()))(demo_command)
    app.command("bind-code", help=t("cli.bind_code.help", language()))(bind_code_command)


def run_command(
    webhook: Annotated[
        bool, typer.Option("--webhook", help=t("cli.run.webhook.help", language()))
    ] = False,
) -> None:
    settings = load_settings()
    if settings.telegram_bot_token is None:
        fail("run.no_token")
    if webhook and not (settings.webhook_url and settings.webhook_secret):
        fail("run.webhook_settings")
    token = settings.telegram_bot_token.get_secret_value()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    configure(
        secrets=(token, secret, settings.database_url.get_secret_value()),
        as_json=settings.log_format == "json",
    )

    async def go() -> None:
        from bot.runtime import Runtime, make_transport, settle_garbage_collector

        async with open_store() as store:
            runtime = Runtime(
                store,
                make_transport(
                    settings.runtime, token, settings.telegram_api_url, settings.send_in_flight
                ),
                settings,
            )
            settle_garbage_collector()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, runtime.stop.set)
            say(
                "cli.run.started",
                username="…",
                runtime=settings.runtime,
                mode="webhook" if webhook else "polling",
                database=settings.database_label(),
            )
            await runtime.run(webhook=webhook)

    run(go())


def demo_command(
    database: Annotated[Path, typer.Option("--db", help=t("cli.demo.db.help", language()))] = Path(
        "linzhang-demo.db"
    ),
    runtime: Annotated[
        str | None, typer.Option("--runtime", help=t("cli.demo.runtime.help", language()))
    ] = None,
) -> None:
    settings = load_settings()
    chosen = runtime or settings.runtime
    if chosen not in ("ptb", "aiogram"):
        fail("cli.bad_settings", details=f"--runtime {chosen}")
    configure(level=30)
    # The demo starts from a clean database every time.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    async def go() -> None:
        from bot.demo import run_demo

        await run_demo(database, EXAMPLE_ROSTER, chosen, settings.language, typer.echo)

    run(go())


def bind_code_command(
    estate: Annotated[str, typer.Option("--estate", help=t("cli.cards.estate.help", language()))],
    building: Annotated[
        str, typer.Option("--building", help=t("cli.bind_code.building.help", language()))
    ],
) -> None:
    community, _, estate_name = estate.rpartition("/")

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            found = await find_estate(session, estate_name, community or None, f"estate:{estate}")
            row = await session.scalar(
                select(Building).where(Building.estate_id == found.id, Building.name == building)
            )
            if row is None:
                fail("bind.unknown_building", estate=estate, building=building)
            code = new_bind_code(session, row.id, "cli")
        say("cli.bind_code.done", building=f"{estate_name}/{building}", code=code.code)

    run(go())
