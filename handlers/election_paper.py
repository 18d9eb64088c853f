"""Paper ballots in chat (`/ballots`): a teller issues codes for the fixed or the mobile box and
enters paper ballots, two tellers agreeing before one counts.

What a teller types and reads here joins a household to a code, or a code to a choice: the
updates are forgotten once handled and the answers forget their words once delivered.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.election_words import choice_label, estate_of_group, group_label
from handlers.events import Button, Reply
from handlers.flow import Command, Flow, Where
from handlers.turn import Turn
from models import button
from models.address import place, room_of
from models.ballot import candidate_names
from models.button import Pressed
from models.conversation import Conversation
from models.election import ABSTAIN, Election, Phase, choices_of, standing
from models.paper_ballot import Box, enter, issue
from models.problem import Problem
from models.registry import Building, Household, NeighbourGroup
from models.role import Role, live_assignments
from models.scope import ScopeKind

NAME = "election_paper"
ISSUE = "election.paper_issue"
ENTER = "election.paper_enter"


class Step(StrEnum):
    HOUSEHOLD = "paper_household"
    ENTRY = "paper_entry"


async def _teller_estates(turn: Turn) -> set[int]:
    held = await live_assignments(
        turn.session, user_id=turn.event.user_id, role=Role.TELLER, on=turn.ctx.today()
    )
    return {a.scope_id for a in held if a.scope_kind == ScopeKind.ESTATE.value}


async def _election_for(turn: Turn, election_id: object) -> Election:
    """The election a teller's press or answer is about, if they still count for it."""
    election = await turn.session.get(Election, election_id if isinstance(election_id, int) else 0)
    if election is None:
        raise Problem("chat.button_invalid")
    if await estate_of_group(turn.session, election.group_id) not in await _teller_estates(turn):
        raise Problem("election.paper.not_teller")
    if election.phase != Phase.VOTING:
        raise Problem("election.not_voting")
    return election


async def ballots_command(turn: Turn) -> list[Reply]:
    """The elections under way in the teller's estates, each with its three tasks."""
    session = turn.session
    estates = await _teller_estates(turn)
    elections = list(
        await session.scalars(
            select(Election)
            .join(NeighbourGroup, NeighbourGroup.id == Election.group_id)
            .join(Building, Building.id == NeighbourGroup.building_id)
            .where(Building.estate_id.in_(estates), Election.phase == Phase.VOTING.value)
            .order_by(Election.id)
        )
    )
    if not elections:
        return [turn.answer("election.paper.none")]
    lines = [turn.say("election.paper.head")]
    rows: list[list[Button]] = []
    for election in elections:
        label = await group_label(session, election.group_id)
        lines.append(turn.say("election.paper.line", group=label))
        tokens = button.issue(
            session,
            turn.event.user_id,
            turn.event.chat_id,
            [
                (ISSUE, {"e": election.id, "box": Box.FIXED.value}),
                (ISSUE, {"e": election.id, "box": Box.MOBILE.value}),
                (ENTER, {"e": election.id}),
            ],
        )
        keys = (
            "election.paper.button_fixed",
            "election.paper.button_mobile",
            "election.paper.button_enter",
        )
        group = await session.get_one(NeighbourGroup, election.group_id)
        rows.append(
            [Button(f"{turn.say(k)}·{group.name}", t) for k, t in zip(keys, tokens, strict=True)]
        )
    return [turn.answer_text("\n".join(lines), rows)]


async def issue_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Ask for the households to issue codes to, one after another."""
    try:
        election = await _election_for(turn, pressed.data.get("e"))
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    box = Box(pressed.data.get("box", Box.FIXED.value))
    await turn.begin(NAME, Step.HOUSEHOLD, {"e": election.id, "box": box.value})
    label = await group_label(turn.session, election.group_id)
    box_name = turn.say(f"election.paper.box.{box.value}")
    return [turn.answer("election.paper.ask_household", group=label, box=box_name)]


async def find_household(
    session: AsyncSession, group_ids: list[int], text: str
) -> tuple[Household, str]:
    """The household of some neighbour groups a person typed (101, 1单元101, 1栋1单元101室),
    and its place as residents write it."""
    wanted = "".join(text.split()).removesuffix("室")
    rows = await session.execute(
        select(Household, Building.name)
        .join(Building, Building.id == Household.building_id)
        .where(Household.neighbour_group_id.in_(group_ids), Household.removed_at.is_(None))
    )
    found = []
    for household, building in rows:
        room = household.room.removesuffix("室")
        forms = {room, f"{household.unit}{room}", f"{building}{household.unit}{room}"}
        if wanted in forms:
            found.append((household, place(building, household.unit, household.room)))
    if not found:
        raise Problem("election.paper.no_household", room=room_of(wanted) if wanted else "")
    if len(found) > 1:
        raise Problem("election.paper.which_household")
    return found[0]


async def enter_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Ask for paper ballots: each its code and the number of the choice marked on it."""
    try:
        election = await _election_for(turn, pressed.data.get("e"))
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    await turn.begin(NAME, Step.ENTRY, {"e": election.id})
    choices = choices_of(election, await standing(turn.session, election))
    names = await candidate_names(turn.session, election.id)
    numbered = [f"{i} {choice_label(turn.say, c, names)}" for i, c in enumerate(choices, 1)]
    numbered.append(f"0 {turn.say('election.abstain')}")
    return [
        turn.answer(
            "election.paper.ask_entry",
            group=await group_label(turn.session, election.group_id),
            choices="、".join(numbered),
        )
    ]


async def text_given(turn: Turn, state: Conversation) -> list[Reply]:
    """A household to issue a code to, or a paper ballot to enter; the step stays for the next."""
    turn.forget_update()
    try:
        election = await _election_for(turn, state.data.get("e"))
    except Problem as problem:
        await turn.end()
        return [turn.answer(problem.key, **problem.params)]
    text = (turn.event.text or "").strip()
    try:
        if state.step == Step.HOUSEHOLD:
            said = await _issue(turn, election, Box(state.data["box"]), text)
        else:
            said = await _enter(turn, election, text)
    except Problem as problem:
        said = turn.answer(problem.key, **problem.params)
    # Refusals name codes too: every answer here forgets its words once delivered.
    said.secret = True
    return [said]


async def _issue(turn: Turn, election: Election, box: Box, text: str) -> Reply:
    household, where = await find_household(turn.session, [election.group_id], text)
    code = await issue(turn.session, election, household.id, box, turn.event.user_id)
    return turn.answer(
        "election.paper.issued",
        place=where,
        box=turn.say(f"election.paper.box.{box.value}"),
        code=code,
    )


async def _enter(turn: Turn, election: Election, text: str) -> Reply:
    code, _, number = text.partition(" ")
    choices = choices_of(election, await standing(turn.session, election))
    number = number.strip()
    if number == "0":
        choice = ABSTAIN
    elif number.isdigit() and 1 <= int(number) <= len(choices):
        choice = choices[int(number) - 1]
    else:
        raise Problem("election.paper.entry_how")
    counted = await enter(turn.session, election, code, choice, turn.event.user_id)
    names = await candidate_names(turn.session, election.id)
    key = "election.paper.counted" if counted else "election.paper.first_entry"
    return turn.answer(key, code=code.upper(), choice=choice_label(turn.say, choice, names))


FLOW = Flow(
    name=NAME,
    commands=(
        Command(
            "ballots", ballots_command, roles=frozenset({Role.TELLER}), where=Where.PRIVATE, rank=66
        ),
    ),
    buttons={ISSUE: issue_pressed, ENTER: enter_pressed},
    steps=Step,
    on_text=text_given,
)
