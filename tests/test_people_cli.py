"""The estate admin's command line for people: names, phones, members, the mediation place."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path

from sqlalchemy import select

from bot.card_pdf import head_line
from models.contact_card import cards_for, estate_cards, household_for_payload
from models.estate_settings import mediation_venue
from models.outbox import OutboxMessage
from models.person import Person, Resident
from models.registry import Estate
from models.store import Store
from tests.conftest import Cli
from tests.request_world import HEAD1, R1, R1B, build_world

ROOM_101 = ("--estate", "芙蓉花园", "--building", "1栋", "--unit", "1单元", "--room", "101")


async def test_remove_a_member_and_rotate_the_card_in_one_step(store: Store, cli: Cli) -> None:
    async with store.write() as session:
        world = await build_world(session, date.today())
        household = world.households[R1]
        old = (await cards_for(session, [household.id], "test")).cards[household.id].payload

    listed = cli("residents", "list", *ROOM_101)
    assert listed.exit_code == 0 and str(R1) in listed.output and "李秀英" in listed.output

    done = cli("residents", "remove", *ROOM_101, "--user", str(R1B))
    assert done.exit_code == 0, done.output
    assert "芙蓉花园1栋1单元101室" in done.output and "linzhang cards" in done.output
    async with store.read() as session:
        live = list(
            await session.scalars(
                select(Resident.user_id).where(
                    Resident.household_id == household.id, Resident.unbound_at.is_(None)
                )
            )
        )
        assert live == [R1]
        # The card the removed person holds no longer binds anyone.
        assert await household_for_payload(session, old) is None
        told = {
            row.chat_id: row.params["text"] for row in await session.scalars(select(OutboxMessage))
        }
    assert "移出" in told[R1B] and "换发" in told[HEAD1]

    again = cli("residents", "remove", *ROOM_101, "--user", str(R1B))
    assert again.exit_code == 2 and len(again.output.strip().splitlines()) == 1


async def test_names_and_a_heads_phone_set_by_the_admin_reach_the_cards(
    store: Store, cli: Cli, tmp_path: Path
) -> None:
    async with store.write() as session:
        await build_world(session, date.today())
    bad = cli("people", "set", "--user", str(HEAD1), "--name", '=HYPERLINK("http://x","点我")')
    assert bad.exit_code == 2
    done = cli(
        "people", "set", "--user", str(HEAD1), "--name", "陈阿姨", "--phone", "0731-22881234"
    )
    assert done.exit_code == 0, done.output
    async with store.read() as session:
        head = await session.get_one(Person, HEAD1)
        assert (head.display_name, head.phone, head.phone_on_card) == (
            "陈阿姨",
            "+8673122881234",
            False,
        )
        estate = await session.scalar(select(Estate))
        assert estate is not None
        [(_, card), *_] = await estate_cards(session, estate, date.today())
    # Not agreed to be printed: the card names the head, without the number.
    assert head_line(card, "zh_CN") == "邻长：陈阿姨"
    cli("people", "set", "--user", str(HEAD1), "--phone", "0731-22881234", "--on-card")
    async with store.read() as session:
        [(_, card), *_] = await estate_cards(session, estate, date.today())
    assert head_line(card, "zh_CN") == "邻长：陈阿姨  电话 0731 2288 1234"
    listing = cli("cards", "--estate", "芙蓉花园", "--format", "json", "--bot-username", "TestBot")
    assert "芙蓉花园1栋1单元101室" in {c["household"] for c in json.loads(listing.output)}


async def test_the_mediation_place_and_time_of_an_estate(store: Store, cli: Cli) -> None:
    async with store.write() as session:
        world = await build_world(session, date.today())
    assert cli("estate", "mediation", "--estate", "芙蓉花园", "--time", "25:00").exit_code == 2
    done = cli("estate", "mediation", "--estate", "芙蓉花园", "--place", "3栋架空层议事角")
    assert done.exit_code == 0, done.output
    cli("estate", "mediation", "--estate", "芙蓉花园", "--time", "19:30")
    async with store.read() as session:
        venue = await mediation_venue(session, world.estate_id)
    assert (venue.place, venue.at) == ("3栋架空层议事角", time(19, 30))
