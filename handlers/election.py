"""Neighbour-head elections in chat: opening, nomination, the group ballot, /vote, /receipt,
the secretary's confirmations, objections and recall petitions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from handlers.batch import Batch
from handlers.context import Context
from handlers.election_roll import roll_objection
from handlers.election_words import (
    CAST,
    CONFIRM_RESULT,
    Speaker,
    chat_of_group,
    choice_label,
    estate_of_group,
    group_label,
    post_ballot,
    private_ballot_reply,
    turnout_edit,
)
from handlers.events import Button, Incoming, Reply
from handlers.flow import Command, Flow, Where
from handlers.speech import voice_of
from handlers.turn import Turn
from models import button
from models.ballot import Voters, candidate_names, cast, find_receipt, turnout, turnouts
from models.base import utcnow
from models.building_chat import building_of_chat
from models.election import (
    Circle,
    Election,
    Phase,
    Source,
    confirm_list,
    current_election,
    nominate,
    open_elections,
    voter_household,
)
from models.election_close import confirm_result, mark_complete
from models.person import Resident
from models.problem import Problem
from models.recall import sign
from models.registry import Building, Household, NeighbourGroup
from models.request_flow import estate_secretaries
from models.role import Role
from models.scope import Scope, ScopeKind

NAME = "election"
CONFIRM_LIST = "election.confirm_list"
SECRETARIES = frozenset({Role.SECRETARY, Role.FIRST_SECRETARY})
# What a resident may write for their circle: the code or its Chinese name.
CIRCLES = {
    "党员": Circle.PARTY_MEMBER,
    "退休干部": Circle.RETIRED_CADRE,
    "居民代表": Circle.RESIDENT_REP,
    "志愿者": Circle.VOLUNTEER,
    **{c.value: c for c in Circle},
}


def _speaker(turn: Turn) -> Speaker:
    return Speaker(turn.ctx.zone, turn.ctx.default_language)


async def _secretary_of(turn: Turn, estate_id: int) -> bool:
    return turn.event.user_id in await estate_secretaries(turn.session, estate_id, turn.ctx.today())


async def election_command(turn: Turn) -> list[Reply]:
    """In a building group: open an election per neighbour group, or show where they stand,
    with the secretary's buttons to confirm candidate lists and results."""
    session, event = turn.session, turn.event
    building_id = await building_of_chat(session, event.chat_id)
    if building_id is None:
        return [turn.answer("election.chat_not_bound")]
    building = await session.get_one(Building, building_id)
    if not await _secretary_of(turn, building.estate_id):
        return [turn.answer("election.not_secretary")]
    groups = list(
        await session.scalars(
            select(NeighbourGroup)
            .where(NeighbourGroup.building_id == building_id)
            .order_by(NeighbourGroup.id)
        )
    )
    under_way = [
        (group, election)
        for group in groups
        if (election := await current_election(session, group.id)) is not None
    ]
    if not under_way:
        scope = Scope(ScopeKind.BUILDING, building_id, "")
        now = utcnow()
        opened = await open_elections(session, scope, f"user:{event.user_id}", now, turn.ctx.zone)
        ends = opened[0].nomination_ends or now
        return [
            turn.answer(
                "election.opened",
                groups=len(opened),
                when=turn.say.when(ends, turn.ctx.zone),
                link=turn.ctx.link(),
            )
        ]
    lines = [turn.say("election.status_head")]
    buttons: list[list[Button]] = []
    for group, election in under_way:
        label = await group_label(session, group.id)
        voted = await turnout(session, election.id)
        phase = turn.say(f"election.phase.{election.phase}")
        if election.phase == Phase.NOMINATION:
            # No roll before nomination closes, so no turnout to speak of.
            lines.append(turn.say("election.status_nominating", group=label, phase=phase))
        else:
            lines.append(
                turn.say(
                    "election.status_line",
                    group=label,
                    phase=phase,
                    voted=voted,
                    roll=election.roll_size,
                )
            )
        action = {Phase.NOMINATION: CONFIRM_LIST, Phase.CLOSED: CONFIRM_RESULT}.get(
            Phase(election.phase)
        )
        if action is not None:
            [token] = button.issue(
                session, event.user_id, event.chat_id, [(action, {"e": election.id})]
            )
            key = (
                "election.button_confirm_list"
                if action == CONFIRM_LIST
                else ("election.button_confirm_result")
            )
            buttons.append([Button(f"{turn.say(key)}·{group.name}", token)])
    return [turn.answer_text("\n".join(lines), buttons)]


async def confirm_list_pressed(turn: Turn, pressed: button.Pressed) -> list[Reply]:
    """The secretary confirms a group's candidates: the roll is frozen, the ballot posted."""
    session = turn.session
    election = await session.get(Election, pressed.data.get("e", 0))
    if election is None:
        return [turn.toast("chat.button_invalid")]
    if not await _secretary_of(turn, await estate_of_group(session, election.group_id)):
        return [turn.toast("election.not_secretary")]
    try:
        await confirm_list(session, election, f"user:{turn.event.user_id}", utcnow(), turn.ctx.zone)
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    group = await group_label(session, election.group_id)
    announce = turn.answer("election.roll_announced", group=group, roll=election.roll_size)
    return [announce, *await post_ballot(session, election, _speaker(turn))]


async def prefetch(batch: Batch, events: Sequence[Incoming]) -> None:
    """Read the group ballots pressed in the batch, their elections and the households their
    pressers cast for, in three statements for all: on election day a batch holds many
    presses, each of which would read all three."""
    tokens = [event.button.removeprefix("t:") for event in events if event.button]
    ballots = await button.read_shared(batch.session, tokens)
    election_of = {b.token: int(b.data.get("e", 0)) for b in ballots if b.action == CAST}
    if not election_of:
        return
    elections = await batch.session.scalars(
        select(Election).where(Election.id.in_(sorted(set(election_of.values()))))
    )
    voters = Voters()
    await voters.read(
        batch.session,
        {
            (election_of[token], event.user_id)
            for event in events
            if event.button
            and (token := button.token_of(event.button.removeprefix("t:"))) in election_of
        },
    )
    # Held here, the buttons stay in the session (it holds clean rows weakly) for redeem.
    batch.prefetched[NAME] = (ballots, {e.id: e for e in elections}, voters)


def _prefetched(turn: Turn) -> tuple[object, dict[int, Election], Voters] | None:
    """What `prefetch` read for the batch, if it read anything."""
    return turn.batch.prefetched.get(NAME)


async def _election(turn: Turn, election_id: int) -> Election | None:
    read = _prefetched(turn)
    if read is not None and election_id in read[1]:
        return read[1][election_id]
    return await turn.session.get(Election, election_id)


async def cast_pressed(turn: Turn, pressed: button.Pressed) -> list[Reply]:
    """A ballot press, in the group or in private: the household's ballot, a receipt only the
    voter sees, the turnout edited in place. What was pressed is forgotten once handled."""
    session, event = turn.session, turn.event
    turn.forget_update()
    election = await _election(turn, int(pressed.data.get("e", 0)))
    choice = str(pressed.data.get("c", ""))
    if election is None:
        return [turn.toast("chat.button_invalid")]
    read = _prefetched(turn)
    try:
        receipt = await cast(
            session, election, event.user_id, choice, utcnow(), read[2] if read else None
        )
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    receipt_toast = Reply(
        event.chat_id,
        turn.say("election.receipt", receipt=receipt),
        callback_id=event.callback_id,
        secret=True,
    )
    # The turnout, and the close once every household has voted, are the batch's: counted
    # once for all its presses when they are handled (`finish`), not once per press.
    turn.batch.owed.setdefault(NAME, {})[election.id] = election
    return [receipt_toast]


async def finish(batch: Batch, ctx: Context) -> list[Reply]:
    """After a batch's votes: each election's turnout edited in place, counted once; the
    elections every household has now voted in marked complete, for the elections job to
    close moments later."""
    voted_in: dict[int, Election] = batch.owed.pop(NAME, {})
    if not voted_in:
        return []
    session = batch.session
    speaker = Speaker(ctx.zone, ctx.default_language)
    voted = await turnouts(session, voted_in)
    # Every household has voted: no reason to wait for the deadline. Marked, not closed here:
    # the count, the result and its lists cost more than the votes of the batch that
    # completed them, and on election day the answers to the presses behind would wait.
    await mark_complete(
        session, [e for e in voted_in.values() if voted[e.id] >= e.roll_size], utcnow()
    )
    return [
        turnout_edit(election, speaker.group, voted[election.id])
        for election in voted_in.values()
        if election.ballot
    ]


async def confirm_result_pressed(turn: Turn, pressed: button.Pressed) -> list[Reply]:
    """The secretary confirms the result: the group is told, publication starts."""
    session = turn.session
    election = await session.get(Election, pressed.data.get("e", 0))
    if election is None:
        return [turn.toast("chat.button_invalid")]
    if not await _secretary_of(turn, await estate_of_group(session, election.group_id)):
        return [turn.toast("election.not_secretary")]
    try:
        outcome = await confirm_result(
            session, election, f"user:{turn.event.user_id}", utcnow(), turn.ctx.zone
        )
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    group = await group_label(session, election.group_id)
    replies = [turn.answer("election.confirmed", group=group)]
    chat = await chat_of_group(session, election.group_id)
    if chat is not None and election.publication_ends is not None:
        say = _speaker(turn).group
        names = await candidate_names(session, election.id)
        winner = names.get(str((election.result or {}).get("winner")), "")
        replies.append(
            Reply(
                chat,
                say(
                    "election.publication",
                    group=group,
                    name=winner,
                    when=say.when(election.publication_ends, turn.ctx.zone),
                ),
                is_group=True,
            )
        )
    elif chat is not None:
        say = _speaker(turn).group
        replies.append(
            Reply(chat, say(f"election.final.{outcome.value}", group=group), is_group=True)
        )
    return replies


async def _my_group(turn: Turn) -> int | None:
    """The neighbour group of the person's household (the first they are bound to)."""
    return await turn.session.scalar(
        select(Household.neighbour_group_id)
        .join(Resident, Resident.household_id == Household.id)
        .where(Resident.user_id == turn.event.user_id, Resident.unbound_at.is_(None))
        .limit(1)
    )


async def nominate_command(turn: Turn) -> list[Reply]:
    """`/nominate 党员 一句话`: stand for neighbour head in one's own group."""
    circle_text, _, statement = turn.event.args.partition(" ")
    circle = CIRCLES.get(circle_text.strip())
    if circle is None:
        return [turn.answer("election.nominate_how")]
    group = await _my_group(turn)
    election = await current_election(turn.session, group) if group is not None else None
    if election is None:
        return [turn.answer("election.none_nominating")]
    person = await turn.batch.person(turn.event.user_id)
    name = (person.display_name if person else None) or turn.event.display_name
    try:
        await nominate(
            turn.session,
            election,
            turn.event.user_id,
            name,
            circle,
            statement.strip(),
            Source.SELF,
            turn.event.user_id,
        )
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    return [turn.answer("election.nominated", circle=turn.say(f"election.circle.{circle.value}"))]


async def vote_command(turn: Turn) -> list[Reply]:
    """The group's ballot, in private, for those who prefer it."""
    group = await _my_group(turn)
    election = await current_election(turn.session, group) if group is not None else None
    if election is None or election.phase != Phase.VOTING:
        return [turn.answer("election.not_voting")]
    if await voter_household(turn.session, election, turn.event.user_id) is None:
        return [turn.answer("election.not_on_roll")]
    return [
        await private_ballot_reply(
            turn.session, election, turn.event.user_id, turn.say, turn.ctx.zone
        )
    ]


async def receipt_command(turn: Turn) -> list[Reply]:
    """`/receipt CODE`: is my ballot in the published list, counted as I chose? The code
    names a choice: the update and the answer are both forgotten once handled."""
    turn.forget_update()
    code = turn.event.args.strip()
    found = await find_receipt(turn.session, code) if code else None
    if found is None:
        return [turn.answer("election.receipt_unknown")]
    election, choice = found
    names = await candidate_names(turn.session, election.id)
    found_it = turn.answer(
        "election.receipt_found",
        receipt=code.upper(),
        group=await group_label(turn.session, election.group_id),
        choice=choice_label(turn.say, choice, names),
    )
    found_it.secret = True
    return [found_it]


async def objection_command(turn: Turn) -> list[Reply]:
    """A resident's objection: to the roll during nomination (decided with buttons), to the
    result during publication (sent to the estate's secretaries)."""
    words = turn.event.args.strip()[:500]
    group = await _my_group(turn)
    election = await current_election(turn.session, group) if group is not None else None
    if election is None or election.phase not in (Phase.PUBLICATION, Phase.NOMINATION):
        return [turn.answer("election.no_objection_now")]
    if not words:
        return [turn.answer("election.objection_how")]
    if election.phase == Phase.NOMINATION:
        # During nomination an objection is about the roll: the secretary decides with buttons.
        return await roll_objection(turn, election, words)
    label = await group_label(turn.session, election.group_id)
    estate = await estate_of_group(turn.session, election.group_id)
    replies = [turn.answer("election.objection_sent")]
    for secretary in await estate_secretaries(turn.session, estate, turn.ctx.today()):
        their = await voice_of(turn.session, secretary, turn.ctx.default_language)
        replies.append(Reply(secretary, their("election.objection", group=label, words=words)))
    return replies


async def recall_command(turn: Turn) -> list[Reply]:
    """Sign the petition to recall the group's head; a fifth of households opens a vote."""
    group = await _my_group(turn)
    if group is None:
        return [turn.answer("election.not_on_roll")]
    try:
        signed, needed, recall = await sign(
            turn.session, turn.event.user_id, group, utcnow(), turn.ctx.zone
        )
    except Problem as problem:
        return [turn.answer(problem.key, **problem.params)]
    if recall is None:
        return [turn.answer("election.recall_signed", signed=signed, needed=needed)]
    replies = [turn.answer("election.recall_opened")]
    return replies + await post_ballot(turn.session, recall, _speaker(turn))


FLOW = Flow(
    name=NAME,
    commands=(
        Command("election", election_command, roles=SECRETARIES, where=Where.GROUP, rank=85),
        Command("nominate", nominate_command, where=Where.PRIVATE, rank=61),
        Command("vote", vote_command, where=Where.PRIVATE, rank=62),
        Command("receipt", receipt_command, where=Where.PRIVATE, rank=63),
        Command("objection", objection_command, where=Where.PRIVATE, rank=64),
        Command("recall", recall_command, where=Where.PRIVATE, rank=65),
    ),
    buttons={
        CONFIRM_LIST: confirm_list_pressed,
        CAST: cast_pressed,
        CONFIRM_RESULT: confirm_result_pressed,
    },
    prefetch=prefetch,
    finish=finish,
)
