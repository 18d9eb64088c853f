"""What an election says: the ballot with its live turnout, the result in plain words, the
published list, the new head's welcome. Shared by the election flow and the deadline job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from handlers.speech import Voice, voice_of
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
)
from models.registry import Building, NeighbourGroup
from models.request_flow import estate_secretaries
from models.scope import ScopeKind, describe_scope

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
    lines = [
        say(
            f"election.ballot_title.{election.kind}",
            group=await group_label(session, election.group_id),
        )
    ]
    if election.kind == Kind.RECALL:
        lines.append(say("election.recall_question"))
    for candidate in await standing(session, election):
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


async def ballot_choices(session: AsyncSession, election: Election, say: Voice) -> list[str]:
    if election.kind == Kind.RECALL:
        return [RECALL_YES, RECALL_NO, ABSTAIN]
    return [str(c.id) for c in await standing(session, election)] + [ABSTAIN]


async def _labels(session: AsyncSession, election: Election, say: Voice) -> dict[str, str]:
    names = await candidate_names(session, election.id)
    return {c: choice_label(say, c, names) for c in await ballot_choices(session, election, say)}


def _rows(buttons: list[Button]) -> list[list[Button]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


async def post_ballot(session: AsyncSession, election: Election, speaker: Speaker) -> list[Reply]:
    """Put the ballot in the building group: one button per choice that anyone there may
    press; who may cast with it is checked on every press."""
    chat = await chat_of_group(session, election.group_id)
    if chat is None:
        return []
    say = speaker.group
    labels = await _labels(session, election, say)
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
        "text": await ballot_text(session, election, say, speaker.zone),
        "choices": [c for c in labels if c != ABSTAIN],
        "buttons": [[label, token] for label, token in zip(labels.values(), tokens, strict=True)],
    }
    return [turnout_edit(election, say, 0)]


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
    """Everything the close says: the result to the building group, the checkable list, the
    secretaries' confirmation; a run-off's ballot."""
    say = speaker.group
    names = await candidate_names(session, election.id)
    group = await group_label(session, election.group_id)
    replies: list[Reply] = []
    chat = await chat_of_group(session, election.group_id)
    text = result_text(say, result, names, group)
    if chat is not None:
        replies.append(Reply(chat, text, is_group=True))
    # The checkable list goes to the whole estate, not only to the group that voted: every
    # building group may recompute the totals it states.
    listed = await published_text(session, election, say, result, group)
    estate = await estate_of_group(session, election.group_id)
    for estate_chat in await estate_chats(session, estate):
        replies.append(Reply(estate_chat, listed, is_group=True))
    if result.outcome is not Outcome.RUNOFF:
        for secretary in await estate_secretaries(session, estate, utcnow().date()):
            their = await voice_of(session, secretary, speaker.default_language)
            [token] = button.issue(
                session, secretary, secretary, [(CONFIRM_RESULT, {"e": election.id})]
            )
            replies.append(
                Reply(
                    secretary,
                    "\n".join(
                        [
                            their("election.confirm_prompt", group=group),
                            result_text(their, result, names, group),
                        ]
                    ),
                    [[Button(their("election.button_confirm_result"), token)]],
                )
            )
    if runoff is not None:
        replies += await post_ballot(session, runoff, speaker)
    return replies


async def estate_chats(session: AsyncSession, estate_id: int) -> list[int]:
    """Each building group of an estate: the newest chat bound to each of its buildings."""
    rows = await session.execute(
        select(BuildingChat.building_id, BuildingChat.chat_id)
        .join(Building, Building.id == BuildingChat.building_id)
        .where(Building.estate_id == estate_id)
        .order_by(BuildingChat.building_id, BuildingChat.bound_at)
    )
    newest = {building: chat for building, chat in rows}
    return list(newest.values())


async def published_text(
    session: AsyncSession, election: Election, say: Voice, result: Result, group: str
) -> str:
    """The shuffled (receipt, choice) list and its totals, which anyone may recompute."""
    names = await candidate_names(session, election.id)
    totals = "、".join(
        say("election.total", choice=choice_label(say, c, names), count=n)
        for c, n in result.counts.items()
    )
    lines = [
        say("election.published_head", group=group, id=election.id),
        say("election.published_totals", totals=totals),
    ]
    for receipt, choice in await published(session, election):
        lines.append(f"{receipt} {choice_label(say, choice, names)}")
    return "\n".join(lines)


async def welcome_head(
    session: AsyncSession, winner: Candidate, speaker: Speaker, group: str
) -> Reply:
    """The new head's welcome, with what a head does (四员职责)."""
    say = await voice_of(session, winner.user_id, speaker.default_language)
    return Reply(winner.user_id, say("election.welcome_head", group=group))
