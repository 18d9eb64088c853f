"""`linzhang cards`: contact cards for an estate, as a PDF to print or JSON for tooling."""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import fail, language, load_settings, open_store, run, say
from models.contact_card import cards_for, deep_link, estate_cards
from models.scope import find_estate
from texts import t

if TYPE_CHECKING:
    from bot.card_pdf import Card

ACTOR = "cli"
# Telegram's rule for bot usernames.
USERNAME_FORM = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


class Format(StrEnum):
    PDF = "pdf"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add `cards` to the command line."""
    app.command("cards", help=t("cli.cards.help", language()))(cards)


def cards(
    estate: Annotated[str, typer.Option("--estate", help=t("cli.cards.estate.help", language()))],
    out: Annotated[
        Path | None, typer.Option("--out", help=t("cli.cards.out.help", language()))
    ] = None,
    rotate: Annotated[
        bool, typer.Option("--rotate", help=t("cli.cards.rotate.help", language()))
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", help=t("cli.cards.format.help", language()))
    ] = "pdf",
    bot_username: Annotated[
        str | None,
        typer.Option("--bot-username", help=t("cli.cards.bot_username.help", language())),
    ] = None,
    building: Annotated[
        str | None, typer.Option("--building", help=t("cli.cards.building.help", language()))
    ] = None,
) -> None:
    try:
        chosen = Format(output_format.lower())
    except ValueError:
        fail("cards.bad_format", format=output_format)
    if chosen is Format.PDF and out is None:
        fail("cards.out_needed")
    current = load_settings()
    username = (bot_username or current.bot_username or "").lstrip("@")
    if not username:
        fail("cards.no_bot_username")
    if not USERNAME_FORM.fullmatch(username):
        fail("cards.bad_bot_username", name=username)
    community, _, estate_name = estate.rpartition("/")
    today = datetime.now(current.zone).date()

    async def go() -> None:
        # reportlab only for this command: every other one would pay its import.
        from bot.card_pdf import Card, render_cards
        from bot.fonts import cjk_font

        async with open_store() as store, store.write() as session:
            found = await find_estate(session, estate_name, community or None, f"estate:{estate}")
            households = await estate_cards(session, found, today, building)
            if not households:
                fail("cards.no_households", estate=estate)
            issue = await cards_for(
                session, [info.household_id for _, info in households], ACTOR, rotate=rotate
            )
            made = [
                Card(info, deep_link(username, issue.cards[info.household_id].payload))
                for _, info in households
            ]
            # Rendering inside the transaction: if the file cannot be written, no card is issued.
            if chosen is Format.JSON:
                _json(made, out)
                return
            assert out is not None
            font = cjk_font(current.cjk_font)
            render_cards(made, out, font, language())
        if not font.embedded:
            typer.echo(t("cli.cards.font_fallback", language()), err=True)
        say(
            "cli.cards.written",
            count=len(made),
            file=str(out),
            issued=issue.issued - issue.rotated if not rotate else 0,
            rotated=issue.rotated,
        )

    run(go())


def _json(made: list[Card], out: Path | None) -> None:
    listing = [
        {
            "household": card.info.label,
            "household_id": card.info.household_id,
            "deep_link": card.link,
        }
        for card in made
    ]
    text = json.dumps(listing, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
