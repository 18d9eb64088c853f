"""`linzhang election`: open, follow, close and verify neighbour-head elections; paper ballots."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import fail, language, load_settings, open_store, run, say
from handlers.election_words import Speaker, closing_replies, estate_of_group, group_label
from handlers.outgoing import enqueue
from models.ballot import published, recount, turnout
from models.base import utcnow
from models.election import ABSTAIN, Election, Periods, choices_of, groups_in, open_elections
from models.election import standing as standing_candidates
from models.election_close import close
from models.paper_ballot import Box, enter, issue
from models.problem import Problem
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind, resolve_household, resolve_scope
from texts import t

ACTOR = "cli"

app = typer.Typer(help=t("cli.election.help", language()), no_args_is_help=True)

ScopeOpt = Annotated[str, typer.Option("--scope", help=t("cli.election.scope.help", language()))]
IdArg = Annotated[int, typer.Argument(help=t("cli.election.id.help", language()))]
TellerOpt = Annotated[int, typer.Option("--teller", help=t("cli.election.teller.help", language()))]


def _speaker() -> Speaker:
    settings = load_settings()
    return Speaker(settings.zone, settings.language)


@app.command("open", help=t("cli.election.open.help", language()))
def open_command(
    scope: ScopeOpt,
    nomination: Annotated[int, typer.Option("--nomination-days")] = 3,
    voting: Annotated[int, typer.Option("--voting-days")] = 2,
    publication: Annotated[int, typer.Option("--publication-days")] = 5,
    seconds: Annotated[int, typer.Option("--seconds")] = 2,
) -> None:
    periods = Periods(nomination, voting, publication, seconds)
    zone = load_settings().zone

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            where = await resolve_scope(session, scope)
            opened = await open_elections(session, where, ACTOR, utcnow(), zone, periods)
            for election in opened:
                say(
                    "cli.election.opened",
                    id=election.id,
                    group=await group_label(session, election.group_id),
                )

    run(go())


@app.command("status", help=t("cli.election.status.help", language()))
def status_command(scope: ScopeOpt) -> None:
    lang = language()

    async def go() -> None:
        async with open_store() as store, store.read() as session:
            where = await resolve_scope(session, scope)
            for group in await groups_in(session, where):
                election = await session.scalar(
                    select(Election)
                    .where(Election.group_id == group.id)
                    .order_by(Election.id.desc())
                    .limit(1)
                )
                label = await group_label(session, group.id)
                if election is None:
                    say("cli.election.status_none", group=label)
                    continue
                outcome = (election.result or {}).get("outcome")
                say(
                    "cli.election.status_line",
                    id=election.id,
                    group=label,
                    phase=t(f"election.phase.{election.phase}", lang),
                    roll=election.roll_size,
                    voted=await turnout(session, election.id),
                    result=t(f"cli.election.outcome.{outcome}", lang) if outcome else "-",
                )

    run(go())


@app.command("close", help=t("cli.election.close.help", language()))
def close_command(election_id: IdArg) -> None:
    speaker = _speaker()

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            election = await _election(session, election_id)
            result, runoff = await close(session, election, ACTOR, utcnow(), speaker.zone)
            enqueue(
                session, await closing_replies(session, election, result, runoff, speaker), None
            )
            say(
                "cli.election.closed",
                id=election.id,
                outcome=t(f"cli.election.outcome.{result.outcome.value}", language()),
                voted=result.voted,
                roll=result.roll,
            )
            if runoff is not None:
                say("cli.election.runoff", id=runoff.id)

    run(go())


@app.command("verify", help=t("cli.election.verify.help", language()))
def verify_command(election_id: IdArg) -> None:
    async def go() -> None:
        async with open_store() as store, store.read() as session:
            election = await _election(session, election_id)
            ballots = await published(session, election)
            choices = choices_of(election, await standing_candidates(session, election))
            again = recount(election, ballots, choices).as_json()
            for choice, count in sorted(again["counts"].items()):
                say("cli.election.count", choice=choice, count=count)
            if again != election.result:
                fail("cli.election.mismatch", id=election.id)
            say("cli.election.verified", id=election.id, ballots=len(ballots))

    run(go())


@app.command("issue", help=t("cli.election.issue.help", language()))
def issue_command(
    election_id: IdArg,
    household: Annotated[
        str, typer.Option("--household", help=t("cli.election.household.help", language()))
    ],
    box: Annotated[str, typer.Option("--box", help=t("cli.election.box.help", language()))],
    teller: TellerOpt,
) -> None:
    boxes = {"fixed": Box.FIXED, "mobile": Box.MOBILE, **{b.value: b for b in Box}}
    if box not in boxes:
        fail("cli.election.bad_box", box=box)
    parts = household.split("/")
    if len(parts) not in (3, 4):
        fail("cli.election.bad_household", household=household)
    estate, building, *rest = parts
    unit, room = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            election = await _election(session, election_id)
            await _teller(session, election, teller)
            found = await resolve_household(session, estate, building, unit, room)
            code = await issue(session, election, found.id, boxes[box], teller)
        say("cli.election.issued", code=code)

    run(go())


@app.command("enter", help=t("cli.election.enter.help", language()))
def enter_command(
    election_id: IdArg,
    code: Annotated[str, typer.Argument(help=t("cli.election.code.help", language()))],
    choice: Annotated[str, typer.Argument(help=t("cli.election.choice.help", language()))],
    teller: TellerOpt,
) -> None:
    async def go() -> None:
        async with open_store() as store, store.write() as session:
            election = await _election(session, election_id)
            await _teller(session, election, teller)
            choices = choices_of(election, await standing_candidates(session, election))
            # On paper a choice is its place on the ballot (1, 2, …) or 0 for abstaining.
            picked = ABSTAIN if choice in ("0", ABSTAIN) else None
            if picked is None:
                try:
                    picked = choices[int(choice) - 1]
                except (ValueError, IndexError):
                    fail("election.bad_choice")
            counted = await enter(session, election, code, picked, teller)
        say("cli.election.counted" if counted else "cli.election.first_entry", code=code.upper())

    run(go())


async def _election(session: AsyncSession, election_id: int) -> Election:
    election = await session.get(Election, election_id)
    if election is None:
        raise Problem("cli.election.unknown", id=election_id)
    return election


async def _teller(session: AsyncSession, election: Election, user: int) -> None:
    """Only a teller of the election's estate enters or issues paper ballots."""
    estate = Scope(ScopeKind.ESTATE, await estate_of_group(session, election.group_id), "")
    tellers = await live_assignments(session, scope=estate, role=Role.TELLER)
    if user not in {a.user_id for a in tellers}:
        raise Problem("cli.election.not_teller", user=user)
