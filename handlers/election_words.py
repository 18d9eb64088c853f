"""What an election says: the ballot with its live turnout, the result in plain words, the
published list, the new head's welcome. Shared by the election flow and the deadline job."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from handlers.speech import Voice, voice_of, voices_of
from models import button
from models.ballot import candidate_names, published, turnout
from models.base import utcnow
from models.building_chat import BuildingChat
from models.election import (
    ABSTAIN,
    RECALL_NO,
    RECALL_YES,
    Candidate,
    Election,
    Kind,
    Outcome,
    Result,
    standing,
    standing_many,
)
from models.election_close import Closed
from models.registry import Building, NeighbourGroup
from models.request_flow import estate_secretaries_many
from models.scope import ScopeKind, describe_scope, place_groups

CAST = "election.cast"
CONFIRM_RESULT = "election.confirm_result"


@dataclass(frozen=True)
class Speaker:
    """How notices are worded outside anyone's own action: the zone and the default voice."""

    zone: ZoneInfo
    default_language: str

    @property
    def group(self) -> Voice:
        return Voice(self.default_language)


async def group_label(session: AsyncSession, group_id: int) -> str:
    return (await describe_scope(session, ScopeKind.GROUP, group_id)).spoken


async def chat_of_group(session: AsyncSession, group_id: int) -> int | None:
    """The building group chat of a neighbour group (the newest bound, if several)."""
    return await session.scalar(
        select(BuildingChat.chat_id)
        .join(NeighbourGroup, NeighbourGroup.building_id == BuildingChat.building_id)
        .where(NeighbourGroup.id == group_id)
        .order_by(BuildingChat.bound_at.desc())
        .limit(1)
    )


async def estate_of_group(session: AsyncSession, group_id: int) -> int:
    found = await session.scalar(
        select(Building.estate_id)
        .join(NeighbourGroup, NeighbourGroup.building_id == Building.id)
        .where(NeighbourGroup.id == group_id)
    )
    assert found is not None
    return found


def choice_label(say: Voice, choice: str, names: dict[str, str]) -> str:
    if choice == ABSTAIN:
        return say("election.abstain")
    if choice in (RECALL_YES, RECALL_NO):
        return say(f"election.recall_{choice}")
    return names.get(choice, choice)


def turnout_line(say: Voice, voted: int, roll: int) -> str:
    """已投 X / Y 户，过半还需 Z 户 — never a count per candidate before the close."""
    missing = max(0, roll // 2 + 1 - voted)
    if missing == 0:
        return say("election.turnout_past_half", voted=voted, roll=roll)
    return say("election.turnout", voted=voted, roll=roll, missing=missing)


async def ballot_text(
    session: AsyncSession, election: Election, say: Voice, zone: ZoneInfo, voted: int | None = None
) -> str:
    """The ballot's words; with the turnout line when `voted` is given."""
    group = await group_label(session, election.group_id)
    return _ballot_text(election, say, zone, group, await standing(session, election), voted)


def _ballot_text(
    election: Election,
    say: Voice,
    zone: ZoneInfo,
    group: str,
    candidates: list[Candidate],
    voted: int | None = None,
) -> str:
    lines = [say(f"election.ballot_title.{election.kind}", group=group)]
    if election.kind == Kind.RECALL:
        lines.append(say("election.recall_question"))
    for candidate in candidates:
        lines.append(
            say(
                "election.ballot_candidate",
                name=candidate.name,
                circle=say(f"election.circle.{candidate.circle}"),
                statement=candidate.statement or say("election.no_statement"),
            )
        )
    if election.voting_ends is not None:
        lines.append(say("election.voting_ends", when=say.when(election.voting_ends, zone)))
    if voted is not None:
        lines.append(turnout_line(say, voted, election.roll_size))
    return "\n".join(lines)


def _choice_labels(election: Election, say: Voice, candidates: list[Candidate]) -> dict[str, str]:
    """What each choice of the ballot is called on its button, in ballot order."""
    if election.kind == Kind.RECALL:
        return {c: choice_label(say, c, {}) for c in (RECALL_YES, RECALL_NO, ABSTAIN)}
    names = {str(c.id): c.name for c in candidates}
    return {c: choice_label(say, c, names) for c in [*names, ABSTAIN]}


async def _labels(session: AsyncSession, election: Election, say: Voice) -> dict[str, str]:
    return _choice_labels(election, say, await standing(session, election))


def _rows(buttons: list[Button]) -> list[list[Button]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


async def post_ballot(session: AsyncSession, election: Election, speaker: Speaker) -> list[Reply]:
    """Put the ballot in the building group: one button per choice that anyone there may
    press; who may cast with it is checked on every press."""
    chat = await chat_of_group(session, election.group_id)
    if chat is None:
        return []
    group = await group_label(session, election.group_id)
    candidates = await standing(session, election)
    return [_post_ballot(session, election, speaker, chat, group, candidates)]


def _post_ballot(
    session: AsyncSession,
    election: Election,
    speaker: Speaker,
    chat: int,
    group: str,
    candidates: list[Candidate],
) -> Reply:
    say = speaker.group
    labels = _choice_labels(election, say, candidates)
    ends = election.voting_ends or utcnow()
    lifetime = max(ends - utcnow(), timedelta(0)) + timedelta(days=1)
    tokens = button.issue(
        session,
        button.ANYONE,
        chat,
        [(CAST, {"e": election.id, "c": choice}) for choice in labels],
        lifetime=lifetime,
    )
    election.ballot = {
        "chat": chat,
        "text": _ballot_text(election, say, speaker.zone, group, candidates),
        "choices": [c for c in labels if c != ABSTAIN],
        "buttons": [[label, token] for label, token in zip(labels.values(), tokens, strict=True)],
    }
    return turnout_edit(election, say, 0)


def turnout_edit(election: Election, say: Voice, voted: int) -> Reply:
    """The group's ballot as posted, with the turnout now: sent once, then edited in place."""
    ballot = election.ballot
    buttons = [Button(label, token) for label, token in ballot["buttons"]]
    text = "\n".join([ballot["text"], turnout_line(say, voted, election.roll_size)])
    return Reply(
        ballot["chat"], text, _rows(buttons), is_group=True, edit_key=f"election:{election.id}"
    )


def private_ballot(
    session: AsyncSession, user_id: int, labels: dict[str, str], election: Election
) -> list[list[Button]]:
    """The same ballot in a private chat: buttons only this person may press, once."""
    tokens = button.issue(
        session, user_id, user_id, [(CAST, {"e": election.id, "c": c}) for c in labels]
    )
    return _rows([Button(label, t) for label, t in zip(labels.values(), tokens, strict=True)])


async def private_ballot_reply(
    session: AsyncSession, election: Election, user_id: int, say: Voice, zone: ZoneInfo
) -> Reply:
    labels = await _labels(session, election, say)
    text = await ballot_text(session, election, say, zone, await turnout(session, election.id))
    return Reply(user_id, text, private_ballot(session, user_id, labels, election))


def result_text(say: Voice, result: Result, names: dict[str, str], group: str) -> str:
    """The rule applied, in plain words."""
    totals = "、".join(
        say("election.total", choice=choice_label(say, c, names), count=n)
        for c, n in result.counts.items()
    )
    head = say("election.result_head", group=group, roll=result.roll, voted=result.voted)
    outcome = result.outcome
    params: dict[str, object] = {"roll": result.roll, "voted": result.voted}
    if result.winner is not None:
        params["name"] = names.get(result.winner, "")
        params["votes"] = result.counts.get(result.winner, 0)
    if result.runoff is not None:
        params["first"], params["second"] = (names.get(c, c) for c in result.runoff)
    return "\n".join([head, say(f"election.outcome.{outcome.value}", **params), totals])


async def closing_replies(
    session: AsyncSession,
    election: Election,
    result: Result,
    runoff: Election | None,
    speaker: Speaker,
) -> list[Reply]:
    """Everything one close says (see `closings`)."""
    ballots = await published(session, election)
    names = await candidate_names(session, election.id)
    return await closings(session, [Closed(election, result, runoff, ballots, names)], speaker)


async def closings(
    session: AsyncSession, closed: Sequence[Closed], speaker: Speaker
) -> list[Reply]:
    """Everything the closes say: each result to its building group, its checkable list to
    every building group of the estate, the secretaries' confirmation; a run-off's ballot.
    What they have in common (places, chats, secretaries, their languages) is read once."""
    if not closed:
        return []
    say = speaker.group
    places = await place_groups(session, {c.election.group_id for c in closed})
    estates = {place.estate_id for place in places.values()}
    chats = await estate_chats_many(session, estates)
    secretaries = await estate_secretaries_many(session, estates, utcnow().date())
    confirming = {places[c.election.group_id].estate_id for c in closed if c.runoff is None}
    voices = await voices_of(
        session, {s for estate in confirming for s in secretaries[estate]}, speaker.default_language
    )
    runoffs = await standing_many(session, [c.runoff for c in closed if c.runoff is not None])
    replies: list[Reply] = []
    for c in closed:
        place = places[c.election.group_id]
        group = place.scope.spoken
        building_chats = chats.get(place.estate_id, {})
        chat = building_chats.get(place.building_id)
        if chat is not None:
            replies.append(Reply(chat, result_text(say, c.result, c.names, group), is_group=True))
        # The checkable list goes to the whole estate, not only to the group that voted:
        # every building group may recompute the totals it states.
        listed = _published_text(say, c, group)
        replies += [Reply(each, listed, is_group=True) for each in building_chats.values()]
        if c.result.outcome is not Outcome.RUNOFF:
            for secretary in secretaries[place.estate_id]:
                replies.append(_confirm_prompt(session, c, group, secretary, voices[secretary]))
        if c.runoff is not None and chat is not None:
            runoff = c.runoff
            replies.append(_post_ballot(session, runoff, speaker, chat, group, runoffs[runoff.id]))
    return replies


def _confirm_prompt(
    session: AsyncSession, closed: Closed, group: str, secretary: int, their: Voice
) -> Reply:
    """The result to a secretary of the estate, with the button that confirms it."""
    [token] = button.issue(
        session, secretary, secretary, [(CONFIRM_RESULT, {"e": closed.election.id})]
    )
    text = "\n".join(
        [
            their("election.confirm_prompt", group=group),
            result_text(their, closed.result, closed.names, group),
        ]
    )
    return Reply(secretary, text, [[Button(their("election.button_confirm_result"), token)]])


async def estate_chats(session: AsyncSession, estate_id: int) -> list[int]:
    """Each building group of an estate: the newest chat bound to each of its buildings."""
    return list((await estate_chats_many(session, [estate_id])).get(estate_id, {}).values())


async def estate_chats_many(
    session: AsyncSession, estate_ids: Collection[int]
) -> dict[int, dict[int, int]]:
    """Each building group of several estates, by estate and building: the newest chat bound
    to each building, in one statement."""
    rows = await session.execute(
        select(Building.estate_id, BuildingChat.building_id, BuildingChat.chat_id)
        .join(Building, Building.id == BuildingChat.building_id)
        .where(Building.estate_id.in_(sorted(estate_ids)))
        .order_by(BuildingChat.building_id, BuildingChat.bound_at)
    )
    newest: dict[int, dict[int, int]] = {}
    for estate, building, chat in rows:
        newest.setdefault(estate, {})[building] = chat
    return newest


async def published_text(
    session: AsyncSession, election: Election, say: Voice, result: Result, group: str
) -> str:
    """The shuffled (receipt, choice) list and its totals, which anyone may recompute."""
    names = await candidate_names(session, election.id)
    ballots = await published(session, election)
    return _published_text(say, Closed(election, result, None, ballots, names), group)


def _published_text(say: Voice, closed: Closed, group: str) -> str:
    names = closed.names
    totals = "、".join(
        say("election.total", choice=choice_label(say, c, names), count=n)
        for c, n in closed.result.counts.items()
    )
    lines = [
        say("election.published_head", group=group, id=closed.election.id),
        say("election.published_totals", totals=totals),
    ]
    for receipt, choice in closed.ballots:
        lines.append(f"{receipt} {choice_label(say, choice, names)}")
    return "\n".join(lines)


async def welcome_head(
    session: AsyncSession, winner: Candidate, speaker: Speaker, group: str
) -> Reply:
    """The new head's welcome, with what a head does (四员职责)."""
    say = await voice_of(session, winner.user_id, speaker.default_language)
    return Reply(winner.user_id, say("election.welcome_head", group=group))
