"""Objections to the roll (选民名册) during nomination: a resident says their household is
missing from a group's roll or wrongly on it; the secretary decides in chat with buttons, the
roster changes on acceptance and the resident is told either way."""

from __future__ import annotations

from sqlalchemy import select

from handlers.election_words import estate_of_group, group_label
from handlers.events import Button, Reply
from handlers.flow import Flow
from handlers.households import household_place
from handlers.speech import voice_of
from handlers.turn import Turn
from models import button
from models.audit import audit
from models.button import Pressed
from models.election import Election, household_in_group, move_household
from models.problem import Problem
from models.registry import Household, NeighbourGroup
from models.request_flow import estate_secretaries

NAME = "election_roll"
MOVE = "election.roll_move"
REJECT = "election.roll_reject"


async def roll_objection(turn: Turn, election: Election, words: str) -> list[Reply]:
    """Send a resident's objection to the roll to the estate's secretaries, with a button per
    neighbour group of the building the household might belong to instead, and one to reject."""
    session, user = turn.session, turn.event.user_id
    household_id = await household_in_group(session, user, election.group_id)
    if household_id is None:
        return [turn.answer("election.not_on_roll")]
    household = await session.get_one(Household, household_id)
    others = list(
        await session.scalars(
            select(NeighbourGroup)
            .where(
                NeighbourGroup.building_id == household.building_id,
                NeighbourGroup.id != household.neighbour_group_id,
            )
            .order_by(NeighbourGroup.id)
        )
    )
    audit(
        session,
        f"user:{user}",
        "election.roll_objection",
        "election",
        election.id,
        after={"household": household_id},
    )
    place = await household_place(session, household)
    group = await group_label(session, election.group_id)
    estate = await estate_of_group(session, election.group_id)
    replies = [turn.answer("election.roll_objection_sent")]
    for secretary in await estate_secretaries(session, estate, turn.ctx.today()):
        their = await voice_of(session, secretary, turn.ctx.default_language)
        decisions = [(MOVE, {"h": household_id, "g": g.id, "u": user}) for g in others]
        decisions.append((REJECT, {"h": household_id, "u": user, "e": election.id}))
        tokens = button.issue(session, secretary, secretary, decisions)
        labels = [their("election.button_roll_move", group=g.name) for g in others]
        labels.append(their("election.button_roll_reject"))
        replies.append(
            Reply(
                secretary,
                their("election.roll_objection", place=place, group=group, words=words),
                [[Button(label, token)] for label, token in zip(labels, tokens, strict=True)],
            )
        )
    return replies


async def _secretary_for(turn: Turn, household: Household) -> bool:
    estate = await estate_of_group(turn.session, household.neighbour_group_id)
    return turn.event.user_id in await estate_secretaries(turn.session, estate, turn.ctx.today())


async def move_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Accepted: the household moves to the group it belongs to; its resident is told."""
    session = turn.session
    household = await session.get(Household, pressed.data.get("h", 0))
    if household is None or not await _secretary_for(turn, household):
        return [turn.toast("election.not_secretary")]
    try:
        await move_household(
            session, household.id, int(pressed.data.get("g", 0)), f"user:{turn.event.user_id}"
        )
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    place = await household_place(session, household)
    group = await group_label(session, household.neighbour_group_id)
    resident = int(pressed.data.get("u", 0))
    their = await voice_of(session, resident, turn.ctx.default_language)
    return [
        turn.answer("election.roll_moved", place=place, group=group),
        Reply(resident, their("election.roll_accepted", place=place, group=group)),
    ]


async def reject_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Not accepted: the roll stays as it is; the resident is told."""
    session = turn.session
    household = await session.get(Household, pressed.data.get("h", 0))
    if household is None or not await _secretary_for(turn, household):
        return [turn.toast("election.not_secretary")]
    audit(
        session,
        f"user:{turn.event.user_id}",
        "election.roll_reject",
        "election",
        pressed.data.get("e"),
        after={"household": household.id},
    )
    place = await household_place(session, household)
    resident = int(pressed.data.get("u", 0))
    their = await voice_of(session, resident, turn.ctx.default_language)
    return [
        turn.answer("election.roll_kept", place=place),
        Reply(resident, their("election.roll_rejected", place=place)),
    ]


FLOW = Flow(name=NAME, buttons={MOVE: move_pressed, REJECT: reject_pressed})
