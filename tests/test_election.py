"""Elections in the domain: the rule, whole elections, races, refusals, paper, recall."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from models.audit import AuditEntry
from models.ballot import Ballot, Participation, cast, find_receipt, published, recount
from models.election import (
    ABSTAIN,
    RECALL_NO,
    RECALL_YES,
    Candidate,
    Circle,
    Election,
    Kind,
    Outcome,
    Phase,
    Source,
    accept,
    apply_rule,
    choices_of,
    decline,
    move_household,
    nominate,
    open_elections,
    second,
    standing,
)
from models.election_close import close, confirm_result, due_to_close, start_term
from models.figures import parse_period, report
from models.paper_ballot import Box, PaperCode, PaperEntry, enter, issue
from models.problem import Problem
from models.recall import sign
from models.registry import Household
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind, resolve_scope
from models.store import Store
from tests.election_world import (
    NOW,
    ROOMS,
    SECRETARY,
    STRANGER,
    TELLER_A,
    TELLER_B,
    TODAY,
    ZONE,
    World,
    candidate,
    load,
    resident,
    voting,
    world,
)

# --- the rule, on its own -----------------------------------------------------------------


def test_a_majority_of_ballots_cast_elects_when_most_of_the_roll_voted() -> None:
    result = apply_rule(Kind.ELECTION, 12, {"1": 5, "2": 1, ABSTAIN: 1}, ["1", "2"])
    assert (result.outcome, result.winner, result.voted) == (Outcome.ELECTED, "1", 7)


def test_half_of_the_roll_is_not_enough() -> None:
    result = apply_rule(Kind.ELECTION, 12, {"1": 6}, ["1", "2"])
    assert result.outcome is Outcome.NOT_VALID


def test_no_majority_sends_the_top_two_to_a_runoff() -> None:
    result = apply_rule(Kind.ELECTION, 10, {"1": 3, "2": 2, "3": 1}, ["1", "2", "3"])
    assert (result.outcome, result.runoff) == (Outcome.RUNOFF, ("1", "2"))


def test_a_tie_for_second_place_is_a_tie() -> None:
    result = apply_rule(Kind.ELECTION, 10, {"1": 3, "2": 2, "3": 2}, ["1", "2", "3"])
    assert result.outcome is Outcome.TIE


def test_a_runoff_needs_the_most_votes_and_a_third_of_ballots() -> None:
    assert apply_rule(Kind.RUNOFF, 10, {"1": 3, "2": 2, ABSTAIN: 1}, ["1", "2"]).winner == "1"
    assert apply_rule(Kind.RUNOFF, 10, {"1": 3, "2": 3}, ["1", "2"]).outcome is Outcome.TIE
    low = apply_rule(Kind.RUNOFF, 10, {"1": 2, "2": 1, ABSTAIN: 4}, ["1", "2"])
    assert low.outcome is Outcome.NOT_ELECTED


def test_a_recall_passes_with_more_than_half_of_ballots() -> None:
    choices = [RECALL_YES, RECALL_NO]
    assert apply_rule(Kind.RECALL, 6, {"yes": 3, "no": 1}, choices).outcome is Outcome.RECALLED
    assert apply_rule(Kind.RECALL, 6, {"yes": 2, "no": 2}, choices).outcome is Outcome.KEPT


# --- whole elections --------------------------------------------------------------------


async def _vote(store: Store, election_id: int, user: int, choice: str) -> str:
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        return await cast(session, election, user, choice, NOW)


async def _close(store: Store, election_id: int) -> tuple[Outcome, int | None]:
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        result, runoff = await close(session, election, "test", NOW, ZONE)
        return result.outcome, runoff.id if runoff else None


async def _refused(store: Store, election_id: int, user: int, choice: str) -> str:
    with pytest.raises(Problem) as raised:
        await _vote(store, election_id, user, choice)
    return raised.value.key


async def test_elected_at_the_first_round_becomes_head_after_publication(store: Store) -> None:
    await world(store)
    election_id, (a, b) = await voting(store)
    receipts = [
        await _vote(store, election_id, resident(1, room), choice)
        for room, choice in zip(ROOMS, [a, a, a, b], strict=False)
    ]
    assert await _close(store, election_id) == (Outcome.ELECTED, None)
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        assert await confirm_result(session, election, "test", NOW, ZONE) is Outcome.ELECTED
        assert election.phase == Phase.PUBLICATION
        winner, assignment = await start_term(session, election, TODAY)
    assert winner.user_id == resident(1, "101")
    assert (assignment.term_start, assignment.term_end) == (TODAY, TODAY.replace(year=2029))
    async with store.read() as session:
        group = Scope(ScopeKind.GROUP, (await load(store, election_id)).group_id, "")
        heads = await live_assignments(session, scope=group, role=Role.NEIGHBOUR_HEAD)
        assert [h.user_id for h in heads] == [resident(1, "101")]
        # Anyone with the published list gets the announced result again.
        election = await session.get_one(Election, election_id)
        ballots = await published(session, election)
        choices = choices_of(election, await standing(session, election))
        assert recount(election, ballots, choices).as_json() == election.result
        assert sorted(r for r, _ in ballots) == sorted(receipts)
        assert await find_receipt(session, receipts[0].lower()) == (election, a)


async def test_too_few_households_voting_is_not_valid(store: Store) -> None:
    await world(store)
    election_id, (a, _) = await voting(store)
    for room in ROOMS[:3]:  # three of six: not more than half
        await _vote(store, election_id, resident(1, room), a)
    assert await _close(store, election_id) == (Outcome.NOT_VALID, None)
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        assert await confirm_result(session, election, "test", NOW, ZONE) is Outcome.NOT_VALID
        assert election.phase == Phase.NOT_VALID


async def test_no_majority_opens_a_runoff_at_once_that_elects(store: Store) -> None:
    await world(store)
    election_id, (a, b, c) = await voting(store, candidates=3)
    for room, choice in zip(ROOMS, [a, a, b, b, c, ABSTAIN], strict=True):
        await _vote(store, election_id, resident(1, room), choice)
    # Every household voted: a tie between b and c for second is not the case (c has 1).
    outcome, runoff_id = await _close(store, election_id)
    assert outcome is Outcome.RUNOFF and runoff_id is not None
    runoff = await load(store, runoff_id)
    assert (runoff.kind, runoff.phase, runoff.roll_size) == (Kind.RUNOFF, Phase.VOTING, 6)
    async with store.read() as session:
        top_two = await standing(session, runoff)
    assert [x.user_id for x in top_two] == [resident(1, "101"), resident(1, "102")]
    x, y = (str(c.id) for c in top_two)
    for room, choice in zip(ROOMS, [x, y, y, ABSTAIN], strict=False):
        await _vote(store, runoff_id, resident(1, room), choice)
    assert await _close(store, runoff_id) == (Outcome.ELECTED, None)
    assert (await load(store, runoff_id)).result["winner"] == y  # type: ignore[index]


async def test_a_tied_runoff_is_a_tie(store: Store) -> None:
    await world(store)
    election_id, (a, b, c) = await voting(store, candidates=3)
    for room, choice in zip(ROOMS, [a, a, b, b, c, c], strict=True):
        await _vote(store, election_id, resident(1, room), choice)
    assert await _close(store, election_id) == (Outcome.TIE, None)


async def test_all_on_paper_and_mixed(store: Store) -> None:
    world_ = await world(store)
    election_id, (a, b) = await voting(store)
    codes = []
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        for room in ROOMS[:4]:
            box = Box.FIXED if room.startswith("1") else Box.MOBILE
            household = world_.households[(1, room)]
            codes.append(await issue(session, election, household, box, TELLER_A))
    for code, choice in zip(codes, [a, a, b, a], strict=True):
        async with store.write() as session:
            election = await session.get_one(Election, election_id)
            assert await enter(session, election, code, choice, TELLER_A) is False
            assert await enter(session, election, code, choice, TELLER_B) is True
    # A household issued a paper ballot cannot vote online; one not issued can.
    assert await _refused(store, election_id, resident(1, "101"), a) == "election.household_voted"
    await _vote(store, election_id, resident(1, "301"), b)
    assert await _close(store, election_id) == (Outcome.ELECTED, None)
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(PaperEntry)) == 0
        channels = list(await session.scalars(select(Participation.channel)))
        assert sorted(channels) == ["fixed_box", "fixed_box", "mobile_box", "mobile_box", "online"]
        result = (await session.get_one(Election, election_id)).result
        assert result == {
            "outcome": "elected",
            "roll": 6,
            "voted": 5,
            "counts": {a: 3, b: 2, ABSTAIN: 0},
            "winner": a,
            "runoff": None,
        }


async def test_paper_refusals_each_say_why(store: Store) -> None:
    world_ = await world(store)
    election_id, (a, b) = await voting(store)

    async def attempt(step, *args):  # type: ignore[no-untyped-def]
        with pytest.raises(Problem) as raised:
            async with store.write() as session:
                election = await session.get_one(Election, election_id)
                await step(session, election, *args)
        return raised.value.key

    await _vote(store, election_id, resident(1, "102"), a)
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        code = await issue(session, election, world_.households[(1, "101")], Box.FIXED, TELLER_A)
        await enter(session, election, code, a, TELLER_A)
    household_online = world_.households[(1, "102")]
    assert await attempt(issue, household_online, Box.FIXED, TELLER_A) == (
        "election.paper_household_voted"
    )
    assert await attempt(enter, code, b, TELLER_B) == "election.paper_disagree"
    assert await attempt(enter, code, a, TELLER_A) == "election.paper_same_teller"
    assert await attempt(enter, "NOTISSUED", a, TELLER_B) == "election.paper_unknown_code"
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        assert await enter(session, election, code, a, TELLER_B) is True
    assert await attempt(enter, code, a, TELLER_A) == "election.paper_code_used"
    # A candidate may not be a teller in their own election.
    candidate_user = (await candidate(store, a)).user_id
    household = world_.households[(1, "201")]
    assert await attempt(issue, household, Box.MOBILE, candidate_user) == (
        "election.teller_is_candidate"
    )
    other_group = world_.households[(2, "101")]
    assert await attempt(issue, other_group, Box.MOBILE, TELLER_A) == "election.not_on_roll"
    async with store.read() as session:
        entered = await session.scalar(
            select(func.count()).select_from(PaperCode).where(PaperCode.entered.is_(True))
        )
        issued = await session.scalar(select(func.count()).select_from(PaperCode))
        assert (entered, issued) == (1, 1)
        assert await session.scalar(select(func.count()).select_from(Ballot)) == 2


async def test_refused_votes_write_nothing(store: Store) -> None:
    await world(store, members=2)
    election_id, (a, _) = await voting(store)
    await _vote(store, election_id, resident(1, "101"), a)
    async with store.read() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert await _refused(store, election_id, resident(1, "101", 2), a) == (
        "election.household_voted"
    )
    assert await _refused(store, election_id, resident(2, "101"), a) == "election.not_on_roll"
    assert await _refused(store, election_id, STRANGER, a) == "election.not_on_roll"
    assert await _refused(store, election_id, resident(1, "102"), "424242") == (
        "election.bad_choice"
    )
    await _close(store, election_id)
    assert await _refused(store, election_id, resident(1, "102"), a) == "election.not_voting"
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ballot)) == 1
        assert await session.scalar(select(func.count()).select_from(Participation)) == 1
        after = await session.scalar(select(func.count()).select_from(AuditEntry))
        assert after == (before or 0) + 1  # the close


async def test_fifty_concurrent_presses_of_one_household_cast_one_ballot(store: Store) -> None:
    await world(store, members=50)
    election_id, (a, b) = await voting(store)

    async def press(member: int) -> str:
        try:
            return await _vote(
                store, election_id, resident(1, "101", member), a if member % 2 else b
            )
        except Problem as problem:
            return problem.key

    answers = await asyncio.gather(*(press(member) for member in range(1, 51)))
    refused = [x for x in answers if x == "election.household_voted"]
    assert len(refused) == 49
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ballot)) == 1
        assert await session.scalar(select(func.count()).select_from(Participation)) == 1


async def test_nominees_appear_only_once_accepted_and_seconded(store: Store) -> None:
    await world(store)
    async with store.write() as session:
        scope = await resolve_scope(session, "group:芙蓉花园/1栋/1单元")
        [election] = await open_elections(session, scope, "test", NOW, ZONE)
        picked = await nominate(
            session,
            election,
            resident(1, "201"),
            "居民1201",
            Circle.PARTY_MEMBER,
            "",
            Source.NEIGHBOUR,
            resident(1, "101"),
        )
        assert await standing(session, election) == []
        await accept(session, picked, resident(1, "201"))
        assert await second(session, picked, resident(1, "102")) == 1
        assert await standing(session, election) == []
        with pytest.raises(Problem, match=r"election.second_not_neighbour"):
            await second(session, picked, resident(2, "101"))
        assert await second(session, picked, resident(1, "301")) == 2
        assert [c.user_id for c in await standing(session, election)] == [resident(1, "201")]
        with pytest.raises(Problem, match=r"election.candidate_not_resident"):
            await nominate(
                session,
                election,
                resident(2, "101"),
                "外单元",
                Circle.VOLUNTEER,
                "",
                Source.BRANCH,
                SECRETARY,
            )


async def test_seconds_count_once_per_household_and_a_declined_nomination_is_gone(
    store: Store,
) -> None:
    world_ = await world(store)
    async with store.write() as session:
        scope = await resolve_scope(session, "group:芙蓉花园/1栋/1单元")
        [election] = await open_elections(session, scope, "test", NOW, ZONE)
        picked = await nominate(
            session,
            election,
            resident(1, "201"),
            "居民1201",
            Circle.VOLUNTEER,
            "",
            Source.NEIGHBOUR,
            resident(1, "101"),
        )
        # Nobody seconds a name the nominee has not accepted to show.
        with pytest.raises(Problem, match=r"election.not_seconded_kind"):
            await second(session, picked, resident(1, "102"))
        with pytest.raises(Problem, match=r"election.not_yours"):
            await decline(session, picked, resident(1, "101"))
        await accept(session, picked, resident(1, "201"))
        assert await second(session, picked, resident(1, "102")) == 1
        with pytest.raises(Problem, match=r"election.already_seconded"):
            await second(session, picked, resident(1, "102"))
        branch = await nominate(
            session,
            election,
            resident(1, "301"),
            "居民1301",
            Circle.PARTY_MEMBER,
            "",
            Source.BRANCH,
            SECRETARY,
        )
        await decline(session, branch, resident(1, "301"))
        await session.flush()
        assert await session.get(Candidate, branch.id) is None
        # An objection to the roll moves a household while both rolls are open, not after.
        moved = world_.households[(1, "101")]
        await move_household(session, moved, world_.group_ids[2], "test")
        assert (await session.get_one(Household, moved)).neighbour_group_id == world_.group_ids[2]
        with pytest.raises(Problem, match=r"election.roll_bad_group"):
            await move_household(session, moved, world_.group_ids[2], "test")
        election.phase = Phase.VOTING.value
        with pytest.raises(Problem, match=r"election.roll_frozen"):
            await move_household(session, world_.households[(1, "102")], world_.group_ids[2], "t")


async def test_opening_a_building_opens_one_per_group_and_the_deadline_closes(
    store: Store,
) -> None:
    await world(store)
    async with store.write() as session:
        scope = await resolve_scope(session, "building:芙蓉花园/1栋")
        opened = await open_elections(session, scope, "test", NOW, ZONE)
        assert len(opened) == 2
        with pytest.raises(Problem, match=r"election.none_opened"):
            await open_elections(session, scope, "test", NOW, ZONE)
    await store.dispose()


async def test_a_fifth_of_households_petitioning_opens_a_recall(store: Store) -> None:
    world_: World = await world(store)
    election_id, (a, _) = await voting(store)
    for room in ROOMS[:4]:
        await _vote(store, election_id, resident(1, room), a)
    await _close(store, election_id)
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        await confirm_result(session, election, "test", NOW, ZONE)
        await start_term(session, election, TODAY)
    group = world_.group_ids[1]
    async with store.write() as session:
        assert (await sign(session, resident(1, "201"), group, NOW, ZONE))[:2] == (1, 2)
        signed, needed, recall = await sign(session, resident(1, "202"), group, NOW, ZONE)
        assert (signed, needed) == (2, 2) and recall is not None
        recall_id = recall.id
    for room, choice in zip(ROOMS, [RECALL_YES] * 4, strict=False):
        await _vote(store, recall_id, resident(1, room), choice)
    assert await _close(store, recall_id) == (Outcome.RECALLED, None)
    async with store.write() as session:
        recall = await session.get_one(Election, recall_id)
        assert await confirm_result(session, recall, "test", NOW, ZONE) is Outcome.RECALLED
        scope = Scope(ScopeKind.GROUP, group, "")
        assert await live_assignments(session, scope=scope, role=Role.NEIGHBOUR_HEAD) == []


async def test_elections_past_their_deadline_are_due(store: Store) -> None:
    await world(store)
    election_id, _ = await voting(store)
    election = await load(store, election_id)
    assert election.voting_ends is not None
    async with store.read() as session:
        assert await due_to_close(session, NOW) == []
        due = await due_to_close(session, election.voting_ends + timedelta(seconds=1))
        assert [e.id for e in due] == [election_id]


async def test_after_the_close_storage_says_nothing_of_who_chose_what(store: Store) -> None:
    world_ = await world(store)
    election_id, (a, b) = await voting(store)
    receipts = [
        await _vote(store, election_id, resident(1, room), choice)
        for room, choice in zip(ROOMS[:4], [a, b, a, ABSTAIN], strict=True)
    ]
    async with store.write() as session:
        election = await session.get_one(Election, election_id)
        code = await issue(session, election, world_.households[(1, "301")], Box.FIXED, TELLER_A)
        await enter(session, election, code, b, TELLER_A)
        await enter(session, election, code, b, TELLER_B)
    await _close(store, election_id)
    async with store.read() as session:
        if store.sqlite:
            # No rowid: the rows are stored, and read, in receipt order.
            stored = list(await session.scalars(text("SELECT receipt FROM election_ballot")))
            assert stored == sorted(stored)
        else:
            # Rewritten at the close in one transaction: arrival left no trace in xmin.
            xmins = set(await session.scalars(text("SELECT xmin::text FROM election_ballot")))
            assert len(xmins) == 1
        stored_receipts = set(await session.scalars(select(Ballot.receipt)))
        assert len(stored_receipts) == 5 and set(receipts) <= stored_receipts
        for entry in await session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "election")
        ):
            words = f"{entry.before} {entry.after}"
            assert not any(r in words for r in receipts) and code not in words
            assert "choice" not in words
        assert await session.scalar(select(func.count()).select_from(PaperEntry)) == 0


async def test_the_district_figures_count_the_turnout(store: Store) -> None:
    await world(store)
    election_id, (a, b) = await voting(store)
    for room, choice in zip(ROOMS, [a, a, b, "abstain"], strict=False):
        await _vote(store, election_id, resident(1, room), choice)
    await _close(store, election_id)
    async with store.read() as session:
        roll = (await load(store, election_id)).roll_size
        found = await report(session, None, parse_period("2026", TODAY), ZONE)
        before = await report(session, None, parse_period("2025", TODAY), ZONE)
    assert roll == len(ROOMS) and found.total.figures.election_turnout == 4 / roll
    assert before.total.figures.election_turnout is None  # no election counted that year
