"""The life of a request: routing, who may act at each level, transitions, deadlines.

Every transition checks the actor and the state, records who, when and why in the audit log,
and returns what changed; the handlers turn that into messages.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import audit
from models.base import utcnow
from models.deadline_rule import Step, pick_workdays, rules_of, workdays_for
from models.mediation import Mediation, mediation_of
from models.mediation import book as book_mediation
from models.mediation import record as record_mediation
from models.person import Resident
from models.problem import Problem
from models.registry import Building, Community, Estate, Household
from models.request import (
    CLOSED,
    DECIDING,
    LADDER,
    Level,
    Rating,
    Request,
    RequestKind,
    State,
    claim,
    claim_many,
    next_reference,
)
from models.role import Force, Role, holders_of_many, live_assignments
from models.scope import Scope, ScopeKind
from models.workdays import END_OF_DAY, WorkCalendar


@dataclass
class Clock:
    """Now, the local zone and the working-day calendar: what deadlines are reckoned in."""

    calendar: WorkCalendar
    zone: ZoneInfo
    now: datetime = field(default_factory=utcnow)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def due(self, days: int) -> datetime:
        return self.calendar.due(self.now, days, self.zone)


@dataclass(frozen=True)
class Change:
    """One transition: the request after it, what happened, and who must now hear of it.

    `note` is only ever a person's own words (what was done, why); when the system itself is
    the cause (a rating, a missed deadline), `reason` names it and the catalogue words it.
    """

    request: Request
    action: str
    note: str = ""
    before: State | None = None
    reason: Reason | None = None


class Reason(StrEnum):
    """Why a transition happened when no person wrote why: worded by the catalogue."""

    DISSATISFIED = "dissatisfied"  # the resident was not satisfied a second time
    MISSED_SIGN = "missed_sign"  # no one signed within the signing deadline
    MISSED_RESOLVE = "missed_resolve"  # not resolved within the completion deadline
    MISSED_DECIDE = "missed_decide"  # no decision within the deadline for deciding


async def file_request(
    session: AsyncSession,
    household: Household,
    user_id: int,
    kind: RequestKind,
    description: str,
    clock: Clock,
    *,
    photos: list[str] | None = None,
    personal: bool = True,
    group_chat_id: int | None = None,
    other_household_id: int | None = None,
    on_behalf: bool = False,
) -> Change:
    """File a request and route it to the household's head, or the branch when there is none.

    `on_behalf`: the household's head files it for them (told at the door, 线下); it is the
    household's request all the same.
    """
    building = await session.get_one(Building, household.building_id)
    estate = await session.get_one(Estate, building.estate_id)
    request = Request(
        reference=await next_reference(session, estate, clock.today.year),
        kind=kind.value,
        household_id=household.id,
        building_id=building.id,
        estate_id=estate.id,
        filed_by=user_id,
        description=description,
        photos=photos or [],
        personal=personal,
        group_chat_id=group_chat_id,
        other_household_id=other_household_id,
        on_behalf=on_behalf,
        created_at=clock.now,
    )
    head = await head_of(session, household.neighbour_group_id, clock.today)
    if head is not None:
        due = await _deadline(session, request, Step.SIGN, Level.HEAD, clock)
        _route(request, Level.HEAD, State.SUBMITTED, head, "", due, "sign")
    else:
        due = await _deadline(session, request, Step.DECIDE, Level.BRANCH, clock)
        _route(request, Level.BRANCH, State.ESCALATED, None, "", due, "decide")
    session.add(request)
    await session.flush()
    _audit(session, f"user:{user_id}", "filed", request, {}, description)
    return Change(request, "filed", description)


async def head_of(session: AsyncSession, group_id: int, today: date) -> int | None:
    heads = await live_assignments(
        session, scope=Scope(ScopeKind.GROUP, group_id, ""), role=Role.NEIGHBOUR_HEAD, on=today
    )
    return heads[0].user_id if heads else None


async def head_for_request(session: AsyncSession, request: Request, today: date) -> int | None:
    """The head serving the requesting household's neighbour group today."""
    household = await session.get_one(Household, request.household_id)
    return await head_of(session, household.neighbour_group_id, today)


async def deciders(session: AsyncSession, request: Request, today: date) -> list[int]:
    """Who decides at the request's level: the branch secretaries, community or street staff."""
    level = Level(request.level)
    if level is Level.HEAD:
        return []
    if level is Level.BRANCH:
        return await estate_secretaries(session, request.estate_id, today)
    estate = await session.get_one(Estate, request.estate_id)
    if level is Level.COMMUNITY:
        scope = Scope(ScopeKind.COMMUNITY, estate.community_id, "")
        return await _holders(session, scope, (Role.COMMUNITY_STAFF,), today)
    street = Scope(ScopeKind.STREET, await _street_of(session, estate), "")
    return await _holders(session, street, (Role.STREET_STAFF,), today)


async def workers(session: AsyncSession, request: Request, today: date) -> list[int]:
    """Who works on it: its one handler, or every member of the force it was assigned to."""
    if request.force:
        estate = await session.get_one(Estate, request.estate_id)
        members = await live_assignments(
            session,
            scope=Scope(ScopeKind.ESTATE, estate.id, estate.name),
            role=Role.FORCE_MEMBER,
            on=today,
        )
        return [a.user_id for a in members if a.force == request.force]
    return [request.handler_user_id] if request.handler_user_id is not None else []


async def who_handles(session: AsyncSession, request: Request, today: date) -> list[int]:
    """Those working on it, or while nobody is, those who decide at its level."""
    return await workers(session, request, today) or await deciders(session, request, today)


async def estate_secretaries(session: AsyncSession, estate_id: int, today: date) -> list[int]:
    """The estate's branch secretary and first secretary."""
    return (await estate_secretaries_many(session, [estate_id], today))[estate_id]


async def estate_secretaries_many(
    session: AsyncSession, estate_ids: Collection[int], today: date
) -> dict[int, list[int]]:
    """Several estates' secretaries in one statement (the deadline scan reads a batch's)."""
    roles = (Role.SECRETARY, Role.FIRST_SECRETARY)
    return await holders_of_many(session, ScopeKind.ESTATE, estate_ids, roles, today)


async def _holders(
    session: AsyncSession, scope: Scope, roles: tuple[Role, ...], today: date
) -> list[int]:
    """Everyone holding one of the roles over a unit today, each once, in order of appointment."""
    people: list[int] = []
    for role in roles:
        for a in await live_assignments(session, scope=scope, role=role, on=today):
            if a.user_id not in people:
                people.append(a.user_id)
    return people


async def household_residents(session: AsyncSession, household_id: int) -> list[int]:
    rows = await session.scalars(
        select(Resident.user_id).where(
            Resident.household_id == household_id, Resident.unbound_at.is_(None)
        )
    )
    return list(rows)


# ---- the handler's steps -------------------------------------------------------------------


async def sign(session: AsyncSession, request: Request, actor: int, clock: Clock) -> Change:
    """签收: the handler takes the request; of two at once, one wins."""
    await _must_work(session, request, actor, clock, (State.SUBMITTED,))
    before = State(request.state)
    if request.signed_at is None:
        request.signed_at = clock.now
        request.signed_in_time = _in_time(request, clock)
    request.state = State.SIGNED.value
    request.handler_user_id = actor
    if request.kind == RequestKind.DISPUTE.value:
        # A dispute is taken to the next Monday mediation day, its handler mediating.
        mediation = await book_mediation(session, request, actor, clock.calendar, clock.today)
        _due(request, datetime.combine(mediation.day, END_OF_DAY, clock.zone), "resolve")
    elif request.deadline_step == "sign":
        _due(request, await _deadline(session, request, Step.RESOLVE, None, clock), "resolve")
    return await _commit_change(session, request, actor, "signed", "", before)


async def agree(
    session: AsyncSession, request: Request, actor: int, agreement: str, clock: Clock
) -> Change:
    """The mediation reached an agreement: record it; the dispute is resolved."""
    mediation = await _mediation(session, request)
    change = await resolve(session, request, actor, agreement, clock)
    record_mediation(mediation, agreement, clock.now)
    return change


async def no_agreement(
    session: AsyncSession, request: Request, actor: int, reason: str, clock: Clock
) -> Change:
    """The mediation failed: recorded, and the dispute goes up a level."""
    mediation = await _mediation(session, request)
    change = await escalate(session, request, actor, reason, clock)
    record_mediation(mediation, None, clock.now)
    return change


async def _mediation(session: AsyncSession, request: Request) -> Mediation:
    mediation = await mediation_of(session, request.id)
    if mediation is None or mediation.outcome is not None:
        raise Problem("request.already", reference=request.reference)
    return mediation


async def add_progress(
    session: AsyncSession, request: Request, actor: int, note: str, clock: Clock
) -> Change:
    working = (State.SIGNED, State.IN_PROGRESS, State.REOPENED)
    await _must_work(session, request, actor, clock, working)
    before = State(request.state)
    request.state = State.IN_PROGRESS.value
    return await _commit_change(session, request, actor, "progress", note, before)


async def resolve(
    session: AsyncSession, request: Request, actor: int, note: str, clock: Clock
) -> Change:
    """Done, with what was done; the resident is asked to confirm and rate (回访)."""
    working = (State.SIGNED, State.IN_PROGRESS, State.REOPENED)
    await _must_work(session, request, actor, clock, working)
    before = State(request.state)
    request.resolved_at = clock.now
    request.resolved_in_time = _in_time(request, clock)
    request.state = State.RESOLVED.value
    _due(request, await _deadline(session, request, Step.CONFIRM, None, clock), "confirm")
    return await _commit_change(session, request, actor, "resolved", note, before)


async def escalate(
    session: AsyncSession, request: Request, actor: int, reason: str, clock: Clock
) -> Change:
    """The handler cannot settle it: it waits for the decision of the level above."""
    working = (State.SUBMITTED, State.SIGNED, State.IN_PROGRESS, State.REOPENED)
    await _must_work(session, request, actor, clock, working)
    before = State(request.state)
    await _climb(session, request, State.ESCALATED, clock)
    return await _commit_change(session, request, actor, "escalated", reason, before)


async def not_ours(
    session: AsyncSession, request: Request, actor: int, reason: str, clock: Clock
) -> Change:
    """The head hands it back: not theirs to handle; the branch decides where it goes."""
    # Every refusal comes before the claim: a refused step must change nothing, not even the
    # version a concurrent legitimate press is about to claim.
    if Level(request.level) is not Level.HEAD:
        raise Problem("request.not_allowed")
    await _must_work(session, request, actor, clock, (State.SUBMITTED, State.SIGNED))
    before = State(request.state)
    due = await _deadline(session, request, Step.DECIDE, Level.BRANCH, clock)
    _route(request, Level.BRANCH, State.RETURNED, None, "", due, "decide")
    return await _commit_change(session, request, actor, "returned", reason, before)


# ---- the decisions of a level (branch, community, street) -----------------------------------


async def assign(
    session: AsyncSession,
    request: Request,
    actor: int,
    clock: Clock,
    *,
    force: Force | None = None,
    head: int | None = None,
    days: int | None = None,
    note: str = "",
) -> Change:
    """Take it at this level: assign it to a force, back to a head, or keep it, with a deadline."""
    await _must_decide(session, request, actor, clock)
    before = State(request.state)
    if days is not None:
        due = clock.due(days)
    else:
        due = await _deadline(session, request, Step.RESOLVE, None, clock)
    # A force or a head signs for it first; the deadline given is for resolving it.
    if force is not None:
        _route(request, Level(request.level), State.SUBMITTED, None, force.value, due, "resolve")
    elif head is not None:
        _route(request, Level.HEAD, State.SUBMITTED, head, "", due, "resolve")
    else:
        _route(request, Level(request.level), State.SIGNED, actor, "", due, "resolve")
    action = f"assigned:{force.value}" if force else ("assigned:head" if head else "assigned:self")
    return await _commit_change(session, request, actor, action, note, before)


async def send_up(
    session: AsyncSession, request: Request, actor: int, reason: str, clock: Clock
) -> Change:
    """Approve the climb to the next level (beyond the estate only with this approval)."""
    if Level(request.level) is Level.STREET:
        raise Problem("request.top_level")
    await _must_decide(session, request, actor, clock)
    before = State(request.state)
    await _climb(session, request, State.ESCALATED, clock)
    return await _commit_change(session, request, actor, "sent_up", reason, before)


async def send_down(
    session: AsyncSession, request: Request, actor: int, instruction: str, clock: Clock
) -> Change:
    """Return it to the level below with an instruction."""
    level = Level(request.level)
    head = await head_for_request(session, request, clock.today)
    if level is Level.BRANCH and head is None:
        raise Problem("request.no_head")
    await _must_decide(session, request, actor, clock)
    before = State(request.state)
    if level is Level.BRANCH:
        assert head is not None
        due = await _deadline(session, request, Step.SIGN, Level.HEAD, clock)
        _route(request, Level.HEAD, State.SUBMITTED, head, "", due, "sign")
    else:
        below = LADDER[LADDER.index(level) - 1]
        due = await _deadline(session, request, Step.DECIDE, below, clock)
        _route(request, below, State.ESCALATED, None, "", due, "decide")
    return await _commit_change(session, request, actor, "sent_down", instruction, before)


# ---- the resident's steps ------------------------------------------------------------------


async def rate(
    session: AsyncSession, request: Request, actor: int, rating: Rating, clock: Clock
) -> Change:
    """The return visit: satisfied closes; dissatisfied reopens once, then climbs a level."""
    await _must_be_resident(session, request, actor, (State.RESOLVED,))
    before = State(request.state)
    request.rating = rating.value
    if rating is not Rating.DISSATISFIED:
        request.state = State.CONFIRMED.value
        request.closed_at = clock.now
        _due(request, None, "")
        return await _commit_change(session, request, actor, "confirmed", "", before)
    if request.reopen_count == 0:
        request.reopen_count = 1
        request.state = State.REOPENED.value
        _due(request, await _deadline(session, request, Step.RESOLVE, None, clock), "resolve")
        return await _commit_change(session, request, actor, "reopened", "", before)
    await _climb(session, request, State.ESCALATED, clock)
    return await _commit_change(
        session, request, actor, "escalated", "", before, Reason.DISSATISFIED
    )


async def withdraw(session: AsyncSession, request: Request, actor: int, clock: Clock) -> Change:
    open_states = tuple(s for s in State if s not in CLOSED)
    await _must_be_resident(session, request, actor, open_states)
    before = State(request.state)
    request.state = State.WITHDRAWN.value
    request.closed_at = clock.now
    _due(request, None, "")
    return await _commit_change(session, request, actor, "withdrawn", "", before)


# ---- deadlines -----------------------------------------------------------------------------


async def breach(session: AsyncSession, request: Request, clock: Clock) -> Change | None:
    """A deadline passed: an unanswered return visit closes unrated; anything else climbs."""
    before = State(request.state)
    if before in CLOSED or not await claim(session, request):
        return None
    days = 0
    if _climbs(request, before):
        days = await workdays_for(
            session, request.estate_id, Step.DECIDE, request.kind, _above(request).value
        )
    action, reason = _breached(request, before, clock, days)
    return await _commit_change(session, request, None, action, "", before, reason)


async def breach_many(
    session: AsyncSession, requests: Sequence[Request], clock: Clock
) -> list[Change]:
    """Breach several requests, as `breach` one by one would, in a few statements.

    The deadline scan's batch: one claim for all, the estates' rules read together, and no
    flush per request (the audit entries are written with the transaction's rows).
    """
    live = [r for r in requests if State(r.state) not in CLOSED]
    taken = await claim_many(session, live)
    rules = await rules_of(session, {r.estate_id for r in taken}, Step.DECIDE)
    changes = []
    for request in taken:
        before = State(request.state)
        days = 0
        if _climbs(request, before):
            days = pick_workdays(
                rules[request.estate_id], Step.DECIDE, request.kind, _above(request).value
            )
        action, reason = _breached(request, before, clock, days)
        _audit(session, "system:deadlines", action, request, {"state": before.value}, reason or "")
        changes.append(Change(request, action, "", before, reason))
    return changes


def _climbs(request: Request, before: State) -> bool:
    """Whether a breach sends the request a level up (else it closes or stays overdue)."""
    return before is not State.RESOLVED and Level(request.level) is not Level.STREET


def _above(request: Request) -> Level:
    level = Level(request.level)
    return LADDER[min(LADDER.index(level) + 1, len(LADDER) - 1)]


def _breached(
    request: Request, before: State, clock: Clock, days: int
) -> tuple[str, Reason | None]:
    """Move a claimed request past its deadline; `days` is the decision's, when it climbs."""
    if before is State.RESOLVED:
        request.state = State.CONFIRMED.value
        request.closed_at = clock.now
        _due(request, None, "")
        return "closed_unrated", None
    if Level(request.level) is Level.STREET:
        # Nowhere higher to go: it stays overdue on the street's queue.
        _due(request, None, "")
        return "overdue", None
    missed = _MISSED.get(request.deadline_step, Reason.MISSED_RESOLVE)
    _route(request, _above(request), State.ESCALATED, None, "", clock.due(days), "decide")
    return "breached", missed


_MISSED = {
    "sign": Reason.MISSED_SIGN,
    "resolve": Reason.MISSED_RESOLVE,
    "decide": Reason.MISSED_DECIDE,
}


# ---- internals -----------------------------------------------------------------------------


def _route(
    request: Request,
    level: Level,
    state: State,
    handler: int | None,
    force: str,
    deadline: datetime,
    step: str,
) -> None:
    request.level = level.value
    request.state = state.value
    request.handler_user_id = handler
    request.force = force
    _due(request, deadline, step)


def _in_time(request: Request, clock: Clock) -> bool:
    """Whether the step is done by the deadline it has now (none: nothing to be late for)."""
    return request.deadline_at is None or clock.now <= request.deadline_at


def _due(request: Request, deadline: datetime | None, step: str) -> None:
    request.deadline_at = deadline
    request.deadline_step = step
    request.reminded_at = None


async def _climb(session: AsyncSession, request: Request, state: State, clock: Clock) -> None:
    level = Level(request.level)
    above = LADDER[min(LADDER.index(level) + 1, len(LADDER) - 1)]
    due = await _deadline(session, request, Step.DECIDE, above, clock)
    _route(request, above, state, None, "", due, "decide")


async def _deadline(
    session: AsyncSession, request: Request, step: Step, level: Level | None, clock: Clock
) -> datetime:
    """The end of the working day the estate's rules allow for a step at a level."""
    at = (level or Level(request.level)).value
    return clock.due(await workdays_for(session, request.estate_id, step, request.kind, at))


async def _must_work(
    session: AsyncSession,
    request: Request,
    actor: int,
    clock: Clock,
    states: tuple[State, ...],
) -> None:
    if actor not in await workers(session, request, clock.today):
        raise Problem("request.not_allowed")
    await _claim(session, request, states)


async def _must_decide(session: AsyncSession, request: Request, actor: int, clock: Clock) -> None:
    if actor not in await deciders(session, request, clock.today):
        raise Problem("request.not_allowed")
    await _claim(session, request, DECIDING)


async def _must_be_resident(
    session: AsyncSession, request: Request, actor: int, states: tuple[State, ...]
) -> None:
    # A request filed on a household's behalf is answered by its residents, or by the head
    # who filed it, at the door, for those who have no phone.
    may = await household_residents(session, request.household_id)
    if actor not in may and not (request.on_behalf and actor == request.filed_by):
        raise Problem("request.not_allowed")
    await _claim(session, request, states)


async def _claim(session: AsyncSession, request: Request, states: tuple[State, ...]) -> None:
    if State(request.state) not in states or not await claim(session, request):
        raise Problem("request.already", reference=request.reference)


async def _commit_change(
    session: AsyncSession,
    request: Request,
    actor: int | None,
    action: str,
    note: str,
    before: State,
    reason: Reason | None = None,
) -> Change:
    await session.flush()
    who = f"user:{actor}" if actor is not None else "system:deadlines"
    _audit(session, who, action, request, {"state": before.value}, note or (reason or ""))
    return Change(request, action, note, before, reason)


def _audit(
    session: AsyncSession,
    actor: str,
    action: str,
    request: Request,
    before: dict[str, object],
    note: str,
) -> None:
    audit(
        session,
        actor,
        f"request.{action}",
        "request",
        request.reference,
        before=before or None,
        after={**request.snapshot(), "note": note},
    )


async def _street_of(session: AsyncSession, estate: Estate) -> int:
    community = await session.get_one(Community, estate.community_id)
    return community.street_id
