"""`linzhang people` and `linzhang residents`: names, phones and household members, by an admin."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import typer
from sqlalchemy import select

from bot.cli.common import fail, language, load_settings, open_store, run, say
from handlers.households import household_label
from handlers.membership import removed
from handlers.outgoing import enqueue
from models.estate_settings import set_mediation_venue
from models.membership import members, remove
from models.person import Person, Resident
from models.privacy import note_access
from models.profile import set_name, set_phone
from models.scope import find_estate, resolve_household
from texts import t

ACTOR = "cli"

people = typer.Typer(help=t("cli.people.help", language()), no_args_is_help=True)
residents = typer.Typer(help=t("cli.residents.help", language()), no_args_is_help=True)
estate = typer.Typer(help=t("cli.estate.help", language()), no_args_is_help=True)

UserOpt = Annotated[int, typer.Option("--user", help=t("cli.roles.user.help", language()))]
EstateOpt = Annotated[str, typer.Option("--estate", help=t("cli.cards.estate.help", language()))]
BuildingOpt = Annotated[
    str, typer.Option("--building", help=t("cli.bind_code.building.help", language()))
]
UnitOpt = Annotated[str, typer.Option("--unit", help=t("cli.residents.unit.help", language()))]
RoomOpt = Annotated[str, typer.Option("--room", help=t("cli.residents.room.help", language()))]


def register(app: typer.Typer) -> None:
    """Add `people`, `residents` and `estate` to the command line."""
    app.add_typer(people, name="people")
    app.add_typer(residents, name="residents")
    app.add_typer(estate, name="estate")


@people.command("set", help=t("cli.people.set.help", language()))
def set_command(
    user: UserOpt,
    name: Annotated[
        str | None, typer.Option("--name", help=t("cli.people.name.help", language()))
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help=t("cli.people.phone.help", language()))
    ] = None,
    on_card: Annotated[
        bool,
        typer.Option("--on-card/--staff-only", help=t("cli.people.on_card.help", language())),
    ] = False,
    clear_phone: Annotated[
        bool, typer.Option("--clear-phone", help=t("cli.people.clear_phone.help", language()))
    ] = False,
) -> None:
    if name is None and phone is None and not clear_phone:
        fail("cli.people.nothing")

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            if name is not None:
                await set_name(session, user, name, ACTOR)
            if phone is not None or clear_phone:
                await set_phone(session, user, None if clear_phone else phone, on_card, ACTOR)
        say("cli.people.done", user=user)

    run(go())


@residents.command("list", help=t("cli.residents.list.help", language()))
def list_command(
    estate_name: EstateOpt, building: BuildingOpt, room: RoomOpt, unit: UnitOpt = ""
) -> None:
    async def go() -> None:
        async with open_store() as store, store.write() as session:
            household = await resolve_household(session, estate_name, building, unit, room)
            rows = (
                await session.execute(
                    select(Resident.user_id, Person.display_name, Resident.consented_at)
                    .join(Person, Person.user_id == Resident.user_id)
                    .where(Resident.household_id == household.id, Resident.unbound_at.is_(None))
                    .order_by(Resident.id)
                )
            ).all()
            label = await household_label(session, household)
            note_access(session, ACTOR, [user_id for user_id, _, _ in rows], "residents_list")
        if not rows:
            say("cli.residents.none", household=label)
            return
        say("cli.residents.header", household=label)
        zone = load_settings().zone
        for user_id, name, since in rows:
            say(
                "cli.residents.row",
                user=user_id,
                name=name or t("chat.me_no_name", language()),
                since=since.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            )

    run(go())


@residents.command("remove", help=t("cli.residents.remove.help", language()))
def remove_command(
    estate_name: EstateOpt,
    building: BuildingOpt,
    room: RoomOpt,
    user: UserOpt,
    unit: UnitOpt = "",
    keep_card: Annotated[
        bool, typer.Option("--keep-card", help=t("cli.residents.keep_card.help", language()))
    ] = False,
) -> None:
    settings = load_settings()
    today = datetime.now(settings.zone).date()

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            household = await resolve_household(session, estate_name, building, unit, room)
            await remove(session, household, user, ACTOR, rotate=not keep_card)
            # Told through the outbox, with the change: a running bot delivers it.
            enqueue(
                session, await removed(session, household, user, settings.language, today), None
            )
            label = await household_label(session, household)
            left = len(await members(session, household.id))
        say("cli.residents.removed", user=user, household=label, left=left)
        if not keep_card:
            say("cli.residents.reprint", estate=estate_name, building=building)

    run(go())


@estate.command("mediation", help=t("cli.estate.mediation.help", language()))
def mediation_command(
    estate_name: EstateOpt,
    place: Annotated[
        str | None, typer.Option("--place", help=t("cli.estate.place.help", language()))
    ] = None,
    at: Annotated[
        str | None, typer.Option("--time", help=t("cli.estate.time.help", language()))
    ] = None,
) -> None:
    starts = _time(at) if at is not None else None
    if place is None and starts is None:
        fail("cli.people.nothing")

    async def go() -> None:
        community, _, name = estate_name.rpartition("/")
        async with open_store() as store, store.write() as session:
            found = await find_estate(session, name, community or None, f"estate:{estate_name}")
            await set_mediation_venue(session, found.id, place, starts, ACTOR)
        say("cli.estate.mediation_done", estate=estate_name)

    run(go())


def _time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        fail("cli.bad_time", value=text)
