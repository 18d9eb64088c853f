"""Nomination by others (`/recommend`): the party branch recommends a resident of a group, or a
resident recommends a neighbour, whose pick other households second in the building group.
Every nominee accepts (or declines) before their name is shown anywhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handlers.election import CIRCLES, SECRETARIES
from handlers.election_paper import find_household
from handlers.election_words import chat_of_group, group_label
from handlers.events import Button, Reply
from handlers.flow import Command, Flow, Where
from handlers.speech import Voice, voice_of
from handlers.turn import Turn
from models import button
from models.button import ANYONE, Pressed
from models.election import (
    Candidate,
    Circle,
    Election,
    Phase,
    Source,
    accept,
    current_election,
    decline,
    nominate,
    second,
)
from models.person import Person, Resident
from models.problem import Problem
from models.registry import Building, Household, NeighbourGroup
from models.role import live_assignments
from models.scope import ScopeKind

NAME = "election_nominations"
PICK = "election.recommend_pick"
ACCEPT = "election.nomination_accept"
DECLINE = "election.nomination_decline"
SECOND = "election.second"


async def _nominating_groups(turn: Turn) -> tuple[Source, list[int]]:
    """Where this person may recommend: every group nominating in a secretary's estates (the
    branch's recommendation), else their own group (a neighbour's)."""
    session = turn.session
    held = await live_assignments(session, user_id=turn.event.user_id, on=turn.ctx.today())
    estates = [
        a.scope_id for a in held if a.role in SECRETARIES and a.scope_kind == ScopeKind.ESTATE.value
    ]
    if estates:
        groups = select(NeighbourGroup.id).join(Building).where(Building.estate_id.in_(estates))
        source = Source.BRANCH
    else:
        groups = (
            select(Household.neighbour_group_id)
            .join(Resident, Resident.household_id == Household.id)
            .where(Resident.user_id == turn.event.user_id, Resident.unbound_at.is_(None))
        )
        source = Source.NEIGHBOUR
    nominating = await session.scalars(
        select(Election.group_id).where(
            Election.group_id.in_(groups), Election.phase == Phase.NOMINATION.value
        )
    )
    return source, list(nominating)


async def recommend_command(turn: Turn) -> list[Reply]:
    """`/recommend 1栋1单元201室 党员 一句话`: put a resident of a group forward."""
    where, _, rest = turn.event.args.strip().partition(" ")
    circle_text, _, statement = rest.strip().partition(" ")
    circle = CIRCLES.get(circle_text.strip())
    if not where or circle is None:
        return [turn.answer("election.recommend_how")]
    source, groups = await _nominating_groups(turn)
    if not groups:
        return [turn.answer("election.none_nominating")]
    try:
        household, place = await find_household(turn.session, groups, where)
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    people = list(
        await turn.session.execute(
            select(Resident.user_id, Person.display_name)
            .join(Person, Person.user_id == Resident.user_id)
            .where(Resident.household_id == household.id, Resident.unbound_at.is_(None))
            .order_by(Resident.user_id)
        )
    )
    if not people:
        return [turn.answer("election.recommend_nobody", place=place)]
    data: dict[str, Any] = {
        "g": household.neighbour_group_id,
        "c": circle.value,
        "s": statement.strip()[:200],
        "src": source.value,
    }
    if len(people) == 1:
        user, name = people[0]
        return await _recommend(turn, {**data, "u": user, "n": name or place})
    tokens = button.issue(
        turn.session,
        turn.event.user_id,
        turn.event.chat_id,
        [(PICK, {**data, "u": user, "n": name or place}) for user, name in people],
    )
    rows = [[Button(name or place, token)] for (_, name), token in zip(people, tokens, strict=True)]
    return [turn.answer("election.recommend_which", rows, place=place)]


async def pick_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The recommender chose which member of the household they mean."""
    return await _recommend(turn, pressed.data)


async def _recommend(turn: Turn, data: dict[str, Any]) -> list[Reply]:
    session = turn.session
    election = await current_election(session, int(data["g"]))
    if election is None or election.phase != Phase.NOMINATION:
        return [turn.answer("election.none_nominating")]
    source, circle = Source(data["src"]), Circle(data["c"])
    try:
        candidate = await nominate(
            session,
            election,
            int(data["u"]),
            str(data["n"]),
            circle,
            str(data["s"]),
            source,
            turn.event.user_id,
        )
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    group = await group_label(session, election.group_id)
    their = await voice_of(session, candidate.user_id, turn.ctx.default_language)
    tokens = button.issue(
        session,
        candidate.user_id,
        candidate.user_id,
        [(ACCEPT, {"cand": candidate.id}), (DECLINE, {"cand": candidate.id})],
    )
    by = (
        their("election.by_branch")
        if source is Source.BRANCH
        else their("election.by_neighbour", name=await _name(turn, turn.event.user_id))
    )
    invitation = Reply(
        candidate.user_id,
        their(
            "election.invited",
            by=by,
            group=group,
            circle=their(f"election.circle.{circle.value}"),
            statement=candidate.statement or their("election.no_statement"),
        ),
        [
            [
                Button(their("election.button_accept"), tokens[0]),
                Button(their("election.button_decline"), tokens[1]),
            ]
        ],
    )
    return [turn.answer("election.recommended", name=candidate.name, group=group), invitation]


async def _name(turn: Turn, user_id: int) -> str:
    person = await turn.batch.person(user_id)
    return (person.display_name if person else None) or turn.event.display_name


async def _candidate(turn: Turn, pressed: Pressed) -> Candidate | None:
    return await turn.session.get(Candidate, pressed.data.get("cand", 0))


async def accept_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The nominee stands: the recommender is told, and a neighbour's pick goes to the
    building group for seconding."""
    session = turn.session
    candidate = await _candidate(turn, pressed)
    if candidate is None:
        return [turn.toast("election.nomination_gone")]
    try:
        await accept(session, candidate, turn.event.user_id)
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    election = await session.get_one(Election, candidate.election_id)
    group = await group_label(session, election.group_id)
    replies = [turn.answer("election.accepted", group=group)]
    recommender = await voice_of(session, candidate.nominated_by, turn.ctx.default_language)
    replies.append(
        Reply(
            candidate.nominated_by,
            recommender("election.nominee_accepted", name=candidate.name, group=group),
        )
    )
    if candidate.source == Source.NEIGHBOUR:
        chat = await chat_of_group(session, election.group_id)
        if chat is not None:
            [token] = button.issue(session, ANYONE, chat, [(SECOND, {"cand": candidate.id})])
            say = Voice(turn.ctx.default_language)
            replies.append(_seconding(say, chat, token, candidate, election, group, 0))
    return replies


def _seconding(
    say: Voice,
    chat: int,
    token: str,
    candidate: Candidate,
    election: Election,
    group: str,
    seconds: int,
) -> Reply:
    """The neighbour's pick in the building group, edited in place as households second."""
    lines = [
        say(
            "election.seconding",
            group=group,
            name=candidate.name,
            circle=say(f"election.circle.{candidate.circle}"),
            statement=candidate.statement or say("election.no_statement"),
        )
    ]
    if seconds >= election.seconds_needed:
        lines.append(say("election.seconded_enough", count=seconds))
    else:
        lines.append(say("election.seconds_count", count=seconds, needed=election.seconds_needed))
    return Reply(
        chat,
        "\n".join(lines),
        [[Button(say("election.button_second"), token)]],
        is_group=True,
        edit_key=f"second:{candidate.id}",
    )


async def decline_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """The nominee does not stand; the recommender is told, the name is shown nowhere."""
    candidate = await _candidate(turn, pressed)
    if candidate is None:
        return [turn.toast("election.nomination_gone")]
    recommender, election_id = candidate.nominated_by, candidate.election_id
    try:
        await decline(turn.session, candidate, turn.event.user_id)
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    election = await turn.session.get_one(Election, election_id)
    group = await group_label(turn.session, election.group_id)
    their = await voice_of(turn.session, recommender, turn.ctx.default_language)
    return [
        turn.answer("election.declined"),
        Reply(recommender, their("election.nominee_declined", group=group)),
    ]


async def second_pressed(turn: Turn, pressed: Pressed) -> list[Reply]:
    """A household of the group seconds; only the presser sees a refusal."""
    session = turn.session
    candidate = await _candidate(turn, pressed)
    if candidate is None:
        return [turn.toast("election.nomination_gone")]
    try:
        count = await second(session, candidate, turn.event.user_id)
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    election = await session.get_one(Election, candidate.election_id)
    group = await group_label(session, election.group_id)
    token = (turn.event.button or "").removeprefix("t:")
    say = Voice(turn.ctx.default_language)
    return [
        turn.toast("election.seconded"),
        _seconding(say, turn.event.chat_id, token, candidate, election, group, count),
    ]


FLOW = Flow(
    name=NAME,
    commands=(Command("recommend", recommend_command, where=Where.PRIVATE, rank=61),),
    buttons={
        PICK: pick_pressed,
        ACCEPT: accept_pressed,
        DECLINE: decline_pressed,
        SECOND: second_pressed,
    },
)
