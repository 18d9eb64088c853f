"""/households: a neighbour head's households, each opening to its card."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from handlers.events import Button, Reply
from handlers.flow import Command, Flow, Where
from handlers.requests import groups_served
from handlers.turn import Turn
from models import button
from models.address import natural_key, place
from models.button import Pressed
from models.person import Person, Resident
from models.registry import Building, Household, HouseholdCare
from models.request import CLOSED, Request
from models.role import Role
from models.visit import Visit, VisitState


async def households(turn: Turn) -> list[Reply]:
    """The head's households: members registered, care, open requests, last visit."""
    session = turn.session
    groups = await groups_served(session, turn.event.user_id, turn.ctx)
    rows = (
        await session.execute(
            select(Household, Building.name)
            .join(Building, Building.id == Household.building_id)
            .where(Household.neighbour_group_id.in_(groups), Household.removed_at.is_(None))
        )
    ).all()
    if not rows:
        return [turn.answer("hh.none")]
    rows = sorted(rows, key=lambda row: natural_key(row[1], row[0].unit, row[0].room))
    facts = await _facts(turn, [h.id for h, _ in rows])
    lines = [_line(turn, place(b, h.unit, h.room), facts, h.id) for h, b in rows]
    choices: list[tuple[str, dict[str, object]]] = [
        ("hh.card", {"household_id": h.id}) for h, _ in rows
    ]
    tokens = button.issue(session, turn.event.user_id, turn.event.chat_id, choices)
    labels = [place(b, h.unit, h.room) for h, b in rows]
    buttons = [Button(label, token) for label, token in zip(labels, tokens, strict=True)]
    grid = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    return [turn.answer("hh.list", grid, count=len(rows), lines="\n".join(lines))]


async def card(turn: Turn, pressed: Pressed) -> list[Reply]:
    """One household: who is registered, its care, requests and visits; visit it or file."""
    session = turn.session
    household = await session.get(Household, pressed.data.get("household_id", 0))
    groups = await groups_served(session, turn.event.user_id, turn.ctx)
    if household is None or household.neighbour_group_id not in groups:
        return [turn.toast("visit.not_yours")]
    building = await session.get_one(Building, household.building_id)
    names = list(
        await session.scalars(
            select(Person.display_name)
            .join(Resident, Resident.user_id == Person.user_id)
            .where(Resident.household_id == household.id, Resident.unbound_at.is_(None))
            .order_by(Resident.id)
        )
    )
    facts = await _facts(turn, [household.id])
    where = place(building.name, household.unit, household.room)
    buttons = turn.buttons(
        [
            ("hh.button_visit", "visit.from_card", {"household_id": household.id}),
            ("hh.button_file", "req.household", {"household_id": household.id}),
        ]
    )
    text = turn.say(
        "hh.card",
        place=where,
        members=turn.say("week.and").join(n for n in names if n) or turn.say("hh.no_members"),
        details=_details(turn, facts, household.id),
    )
    return [turn.answer_text(text, [buttons])]


@dataclass(frozen=True)
class Facts:
    """What a head sees of each household, read for all of them at once."""

    care: dict[int, list[str]]
    members: dict[int, int]
    open: dict[int, int]
    last: dict[int, datetime | None]


async def _facts(turn: Turn, ids: list[int]) -> Facts:
    session = turn.session
    care: dict[int, list[str]] = defaultdict(list)
    for household, kind in await session.execute(
        select(HouseholdCare.household_id, HouseholdCare.kind).where(
            HouseholdCare.household_id.in_(ids)
        )
    ):
        care[household].append(kind)
    members = {
        h: n
        for h, n in await session.execute(
            select(Resident.household_id, func.count())
            .where(Resident.household_id.in_(ids), Resident.unbound_at.is_(None))
            .group_by(Resident.household_id)
        )
    }
    open_requests = {
        h: n
        for h, n in await session.execute(
            select(Request.household_id, func.count())
            .where(Request.household_id.in_(ids), Request.state.not_in([s.value for s in CLOSED]))
            .group_by(Request.household_id)
        )
    }
    last = {
        h: d
        for h, d in await session.execute(
            select(Visit.household_id, func.max(Visit.done_at))
            .where(Visit.household_id.in_(ids), Visit.state == VisitState.VISITED.value)
            .group_by(Visit.household_id)
        )
    }
    return Facts(dict(care), members, open_requests, last)


def _details(turn: Turn, facts: Facts, household_id: int) -> str:
    say = turn.say
    care = facts.care.get(household_id)
    parts = [say("hh.members", count=facts.members.get(household_id, 0))]
    if care:
        parts.append(say("week.and").join(say(f"care.{k}") for k in sorted(care)))
    opened = facts.open.get(household_id, 0)
    if opened:
        parts.append(say("hh.open", count=opened))
    last = facts.last.get(household_id)
    if last is None:
        parts.append(say("hh.never_visited"))
    else:
        local = last.astimezone(turn.ctx.zone)
        parts.append(say("hh.last_visit", month=local.month, day=local.day))
    return say("hh.separator").join(parts)


def _line(turn: Turn, where: str, facts: Facts, household_id: int) -> str:
    return turn.say("hh.line", place=where, details=_details(turn, facts, household_id))


FLOW = Flow(
    name="households_view",
    commands=(
        Command(
            "households",
            households,
            roles=frozenset({Role.NEIGHBOUR_HEAD}),
            where=Where.PRIVATE,
            rank=15,
        ),
    ),
    buttons={"hh.card": card},
)
