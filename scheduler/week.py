"""A neighbour head's week: each rule's occurrences fired once, into the outbox.

Plain functions shared by the job and the tests. Every occurrence of a rule is recorded in the
transaction that writes its messages, so a restart, a second process or a job run twice sends
nothing twice; one missed while no process ran is sent on start within the grace window and
recorded as skipped beyond it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Button, Reply
from handlers.outgoing import outbox_rows
from handlers.request_cards import Desk
from handlers.speech import Voice, voices_of
from handlers.week_summary import (
    Head,
    heads_of,
    heads_of_many,
    monday,
    secretaries_of,
    summary_text,
)
from models import button
from models.address import place
from models.audit import audit
from models.base import utcnow
from models.building_chat import BuildingChat
from models.button import ANYONE
from models.cleaning_day import CleaningDay, Held
from models.cleaning_day import edit_key as cleaning_key
from models.estate_settings import mediation_venues
from models.occurrence import Occurrence, OccurrenceSend, Outcome, claim_many, sends
from models.outbox import OutboxMessage
from models.person import Resident
from models.registry import Building, Estate, Household, HouseholdCare, NeighbourGroup
from models.role import RoleAssignment
from models.rows import rows_of
from models.schedule_rule import CLEANING_LEAD, RuleKind, Week, weeks_of
from models.store import Store
from models.visit import Visit, VisitState, candidates_of, choose

log = logging.getLogger(__name__)

GRACE = timedelta(hours=12)
# How far back a process looks for occurrences nobody recorded (a restart after a long stop).
LOOKBACK = timedelta(days=8)
# Estates fired in one transaction: short enough that the chat is not held long on SQLite.
CHUNK = 25
# The list's buttons last the week and the weekend after it.
VISIT_BUTTONS = timedelta(days=8)
# The clean-up may take the month the prompt is for.
ADVERT_BUTTON = timedelta(days=31)
VISIT_ACTIONS = ("visit.visited", "visit.not_home", "visit.put_off")


@dataclass(frozen=True)
class Fired:
    estate_id: int
    kind: RuleKind
    due_at: datetime
    outcome: Outcome
    messages: int


async def fire_due(
    store: Store, desk: Desk, now: datetime | None = None, grace: timedelta = GRACE
) -> list[Fired]:
    """Fire every occurrence due and not yet recorded; return what was fired or skipped.

    Only occurrences after the latest one recorded for a rule count: a rule moved earlier in
    the day does not fire a second time that week.
    """
    now = now or utcnow()
    async with store.read() as session:
        estates = list(await session.scalars(select(Estate.id).order_by(Estate.id)))
        weeks = await weeks_of(session, estates)
        latest = await _latest(session, now - LOOKBACK)
        known = set(await session.scalars(select(Occurrence.estate_id).distinct()))
    # Estates whose rule falls at the same moment fire together: one transaction for a chunk
    # of them (the district's Monday lists are 244 estates at 08:00), not one each.
    pending: dict[tuple[RuleKind, datetime, Outcome], list[int]] = defaultdict(list)
    for estate_id in estates:
        week = weeks[estate_id]
        for rule in week.rules.values():
            since = max(now - LOOKBACK, latest.get((estate_id, rule.kind.value), now - LOOKBACK))
            for due in rule.occurrences(desk.zone, since, now):
                # An estate's first pass sends nothing from before it (a new deployment, a
                # new estate): only a process that was running for it can have missed it.
                late = now - due > grace or estate_id not in known
                outcome = Outcome.SKIPPED if late else Outcome.FIRED
                pending[(rule.kind, due, outcome)].append(estate_id)
    done: list[Fired] = []
    for (kind, due, outcome), group in sorted(pending.items(), key=lambda item: item[0][1]):
        for start in range(0, len(group), CHUNK):
            chunk = group[start : start + CHUNK]
            async with store.write() as session:
                done += await _fire(session, chunk, kind, weeks, due, outcome, desk, now)
    for fired in done:
        log.info(
            "week: %s of estate %s due %s %s (%s messages)",
            fired.kind,
            fired.estate_id,
            fired.due_at.isoformat(),
            fired.outcome,
            fired.messages,
        )
    return done


async def _latest(session: AsyncSession, since: datetime) -> dict[tuple[int, str], datetime]:
    rows = await session.execute(
        select(Occurrence.estate_id, Occurrence.kind, func.max(Occurrence.due_at))
        .where(Occurrence.due_at > since)
        .group_by(Occurrence.estate_id, Occurrence.kind)
    )
    return {(e, k): d for e, k, d in rows}


async def _fire(
    session: AsyncSession,
    estate_ids: list[int],
    kind: RuleKind,
    weeks: dict[int, Week],
    due: datetime,
    outcome: Outcome,
    desk: Desk,
    now: datetime,
) -> list[Fired]:
    """Record one occurrence per estate, and write the messages of those this run won."""
    due_at = due.astimezone(UTC)
    won = await claim_many(session, estate_ids, kind.value, due_at, outcome)
    fired = []
    counts = []
    rows = rows_of(session)
    built: dict[int, list[Reply]] = {}
    many = MANY_BUILDERS.get(kind)
    if outcome is Outcome.FIRED and many is not None:
        built = await many(session, {e: weeks[e] for e in won}, due, desk)
    for estate_id in sorted(won):
        count = 0
        if outcome is Outcome.FIRED:
            week = weeks[estate_id]
            if many is not None:
                replies = built.get(estate_id, [])
            else:
                replies = await BUILDERS[kind](session, estate_id, due, week, desk)
            not_before = week.not_before(now, desk.zone)
            for row in outbox_rows(replies, None):
                row["not_before"] = not_before
                rows.add(OutboxMessage, row)
                count += 1
            for key in sends(estate_id, kind.value, due_at, (r.chat_id for r in replies)):
                rows.add(OccurrenceSend, key)
            counts.append({"e": estate_id, "n": count})
        audit(
            session,
            f"system:{kind.value}",
            f"schedule.{outcome.value}",
            "estate",
            estate_id,
            after={"rule": kind.value, "due_at": due_at.isoformat(), "messages": count},
        )
        fired.append(Fired(estate_id, kind, due_at, outcome, count))
    if counts:
        await rows.write(session)
        table = Occurrence.__table__
        assert isinstance(table, Table)
        await session.execute(
            update(table)
            .where(
                table.c.estate_id == bindparam("e"),
                table.c.kind == kind.value,
                table.c.due_at == due_at,
            )
            .values(messages=bindparam("n")),
            counts,
        )
    return fired


# ---- what each rule says -------------------------------------------------------------------

Builder = Callable[[AsyncSession, int, datetime, Week, Desk], Awaitable[list[Reply]]]


async def visit_lists(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """One estate's lists (see visit_lists_many)."""
    return (await visit_lists_many(session, {estate_id: week}, due, desk)).get(estate_id, [])


async def visit_lists_many(
    session: AsyncSession, weeks: dict[int, Week], due: datetime, desk: Desk
) -> dict[int, list[Reply]]:
    """Each head's list for the week, written as planned visits, with a row of buttons each.

    Several estates at once: the district's Monday is 244 estates at the same minute, and a
    statement per estate cost more than the work.
    """
    today = due.astimezone(desk.zone).date()
    heads = await heads_of_many(session, sorted(weeks), today)
    per_week = {h.user_id: weeks[h.estate_id].visits_per_week for h in heads}
    plans = await plan_week(session, heads, monday(today), per_week)
    places = await _places(session, [h for vs in plans.values() for _, h in vs])
    care = await _care(session, list(places))
    said = await voices_of(session, (h.user_id for h in heads), desk.default_language)
    replies: dict[int, list[Reply]] = defaultdict(list)
    for head in heads:
        if not plans[head.user_id]:
            continue
        say = said[head.user_id]
        lines = [_line(say, places[h], care.get(h)) for _, h in plans[head.user_id]]
        rows = visit_buttons(
            session, say, head.user_id, [(v, places[h]) for v, h in plans[head.user_id]]
        )
        text = say("week.visit_list", count=len(lines), lines="\n".join(lines))
        replies[head.estate_id].append(Reply(head.user_id, text, rows))
    return replies


def visit_buttons(
    session: AsyncSession, say: Voice, head_user_id: int, visits: list[tuple[int, str]]
) -> list[list[Button]]:
    """A row per (visit, place): visited, not at home, put off.

    One token for the list, read and not spent: recording a visit refuses a second outcome
    itself (`record_visit`), and a token per household was most of a Monday's rows.
    """
    choices: list[tuple[str, dict[str, object]]] = [
        (action, {"id": visit_id}) for visit_id, _ in visits for action in VISIT_ACTIONS
    ]
    tokens = button.issue(
        session, head_user_id, head_user_id, choices, lifetime=VISIT_BUTTONS, spent=False
    )
    not_home, put_off = say("visit.button_not_home"), say("visit.button_put_off")
    return [
        [
            Button(say("visit.button_visited", place=where), tokens[3 * i]),
            Button(not_home, tokens[3 * i + 1]),
            Button(put_off, tokens[3 * i + 2]),
        ]
        for i, (_, where) in enumerate(visits)
    ]


async def plan_week(
    session: AsyncSession, heads: list[Head], week: date, per_week: dict[int, int]
) -> dict[int, list[tuple[int, int]]]:
    """Choose and record each head's visits for a week; return (visit, household) per head."""
    candidates = await candidates_of(session, [h.group_id for h in heads], week)
    # A rule moved to a later day of the same week fires again: households already on this
    # week's lists stay there (a visit is unique per household and week).
    listed = set(
        await session.scalars(
            select(Visit.household_id).where(
                Visit.week == week, Visit.head_user_id.in_([h.user_id for h in heads])
            )
        )
    )
    if listed:
        candidates = {
            g: [c for c in cs if c.household_id not in listed] for g, cs in candidates.items()
        }
    values = []
    for head in heads:
        for c in choose(candidates.get(head.group_id, []), per_week[head.user_id], week):
            values.append(
                {
                    "household_id": c.household_id,
                    "head_user_id": head.user_id,
                    "week": week,
                    "state": VisitState.PLANNED.value,
                    "carried": c.carried,
                    "ones": "",
                    "created_at": utcnow(),
                }
            )
    plans: dict[int, list[tuple[int, int]]] = {h.user_id: [] for h in heads}
    if values:
        # Core, not the ORM's bulk insert: the ids come back in one statement either way,
        # without building an object per row.
        table = Visit.__table__
        assert isinstance(table, Table)
        written = await session.execute(
            # The rows name their household and head: their order does not matter, and asking
            # for it makes SQLite insert them one statement each.
            insert(table).returning(table.c.id, table.c.household_id, table.c.head_user_id),
            values,
        )
        for visit_id, household_id, head_id in written:
            plans[head_id].append((visit_id, household_id))
    return plans


async def visit_nudges(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """Friday: what each head has still open this week."""
    today = due.astimezone(desk.zone).date()
    heads = await heads_of(session, estate_id, today)
    open_visits = await session.execute(
        select(Visit.head_user_id, Visit.household_id).where(
            Visit.head_user_id.in_([h.user_id for h in heads]),
            Visit.week == monday(today),
            Visit.state != VisitState.VISITED.value,
        )
    )
    waiting: dict[int, list[int]] = defaultdict(list)
    for head_id, household_id in open_visits:
        waiting[head_id].append(household_id)
    places = await _places(session, [h for hs in waiting.values() for h in hs])
    said = await voices_of(session, waiting, desk.default_language)
    replies = []
    for head in heads:
        if not waiting.get(head.user_id):
            continue
        say = said[head.user_id]
        lines = "\n".join(f"· {places[h]}" for h in waiting[head.user_id])
        replies.append(
            Reply(
                head.user_id, say("week.visit_nudge", count=len(waiting[head.user_id]), lines=lines)
            )
        )
    return replies


async def cleaning_eve(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    return await _cleaning(session, estate_id, due, week, desk, "week.cleaning_eve")


async def cleaning_day(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    return await _cleaning(session, estate_id, due, week, desk, "week.cleaning_day")


async def _cleaning(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk, key: str
) -> list[Reply]:
    """The cleaning-day reminder in every bound building group, with its 我参加 button.

    The evening's message is the sign-up list (接龙): each press edits it in place. The heads
    of the building are asked on the day whether it was held.
    """
    local = due.astimezone(desk.zone)
    day = local.date() + timedelta(days=1) if key == "week.cleaning_eve" else local.date()
    start = datetime.combine(day, week.rules[RuleKind.CLEANING_DAY].at, desk.zone)
    at = (start + CLEANING_LEAD).strftime("%H:%M")
    say = Voice(desk.default_language)
    chats = list(
        await session.execute(
            select(BuildingChat.chat_id, BuildingChat.building_id)
            .join(Building, Building.id == BuildingChat.building_id)
            .where(Building.estate_id == estate_id)
            .order_by(BuildingChat.chat_id)
        )
    )
    replies = []
    heads = await heads_of(session, estate_id, day) if key == "week.cleaning_day" else []
    said = await voices_of(session, (h.user_id for h in heads), desk.default_language)
    for chat, building_id in chats:
        cleaning = await _cleaning_day(session, building_id, day)
        text = say(key, time=at)
        if key == "week.cleaning_eve":
            [token] = button.issue(
                session,
                ANYONE,
                chat,
                [("cleaning.join", {"id": cleaning.id, "time": at})],
                lifetime=VISIT_BUTTONS,
            )
            replies.append(
                Reply(
                    chat,
                    text,
                    [[Button(say("cleaning.button_join"), token)]],
                    is_group=True,
                    edit_key=cleaning_key(cleaning),
                )
            )
        else:
            replies.append(Reply(chat, text, is_group=True))
        for head in heads:
            if await _building_of_group(session, head.group_id) != building_id:
                continue
            voice = said[head.user_id]
            choices: list[tuple[str, dict[str, object]]] = [
                ("cleaning.mark", {"id": cleaning.id, "held": held}) for held in (1, 0)
            ]
            held, not_held = button.issue(
                session, head.user_id, head.user_id, choices, lifetime=VISIT_BUTTONS
            )
            replies.append(
                Reply(
                    head.user_id,
                    voice("cleaning.ask_held"),
                    [
                        [
                            Button(voice("cleaning.button_held"), held),
                            Button(voice("cleaning.button_not_held"), not_held),
                        ]
                    ],
                )
            )
    return replies


async def _cleaning_day(session: AsyncSession, building_id: int, day: date) -> CleaningDay:
    found = await session.scalar(
        select(CleaningDay).where(CleaningDay.building_id == building_id, CleaningDay.day == day)
    )
    if found is None:
        found = CleaningDay(building_id=building_id, day=day, state=Held.PLANNED.value)
        session.add(found)
        await session.flush()
    return found


async def _building_of_group(session: AsyncSession, group_id: int) -> int | None:
    return await session.scalar(
        select(NeighbourGroup.building_id).where(NeighbourGroup.id == group_id)
    )


async def advert_prompts(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """The monthly prompt to each head, with 已清理 to press once it is done."""
    today = due.astimezone(desk.zone).date()
    heads = await heads_of(session, estate_id, today)
    said = await voices_of(session, (h.user_id for h in heads), desk.default_language)
    replies = []
    for head in heads:
        say = said[head.user_id]
        data = {"group": head.group_id, "prompted": today.isoformat()}
        [token] = button.issue(
            session,
            head.user_id,
            head.user_id,
            [("advert.cleaned", data)],
            lifetime=ADVERT_BUTTON,
        )
        done = [[Button(say("advert.button_cleaned"), token)]]
        replies.append(Reply(head.user_id, say("week.advert_cleanup"), done))
    return replies


async def fee_reminders(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """The estate's monthly fee reminder, privately, to each resident who turned it on in /me.

    The same words for everyone: it never says who has paid or who is in arrears. The rule
    fires only where the estate turned it on (it is off by default).
    """
    users = list(
        await session.scalars(
            select(Resident.user_id)
            .join(Household, Household.id == Resident.household_id)
            .join(Building, Building.id == Household.building_id)
            .where(
                Building.estate_id == estate_id,
                Resident.fee_reminders.is_(True),
                Resident.unbound_at.is_(None),
                # An erased person's binding stays under a pseudonym, no chat's id.
                Resident.user_id > 0,
                Household.removed_at.is_(None),
            )
            .distinct()
        )
    )
    said = await voices_of(session, users, desk.default_language)
    return [Reply(user, said[user]("week.fee_reminder")) for user in sorted(said)]


async def mediation_reminders(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """One estate's mediation-day reminders (see mediation_reminders_many)."""
    return (await mediation_reminders_many(session, {estate_id: week}, due, desk)).get(
        estate_id, []
    )


async def mediation_reminders_many(
    session: AsyncSession, weeks: dict[int, Week], due: datetime, desk: Desk
) -> dict[int, list[Reply]]:
    """Monday: the secretary and the heads are reminded of the mediation day's place and time."""
    estates = sorted(weeks)
    heads = await heads_of_many(session, estates, due.astimezone(desk.zone).date())
    people: dict[int, list[int]] = {e: [] for e in estates}
    for estate_id, user in await session.execute(
        select(RoleAssignment.scope_id, RoleAssignment.user_id).where(
            RoleAssignment.role == "secretary",
            RoleAssignment.scope_kind == "estate",
            RoleAssignment.scope_id.in_(estates),
            RoleAssignment.revoked_at.is_(None),
        )
    ):
        people[estate_id].append(user)
    for head in heads:
        people[head.estate_id].append(head.user_id)
    said = await voices_of(
        session, (u for us in people.values() for u in us), desk.default_language
    )
    venues = await mediation_venues(session, estates)
    replies: dict[int, list[Reply]] = {}
    for estate_id in estates:
        venue = venues[estate_id]
        replies[estate_id] = []
        for user in dict.fromkeys(people[estate_id]):
            say = said[user]
            where = venue.place or say("req.mediation_default_place")
            text = say("week.mediation_day", time=venue.at.strftime("%H:%M"), place=where)
            replies[estate_id].append(Reply(user, text))
    return replies


async def weekly_summaries(
    session: AsyncSession, estate_id: int, due: datetime, week: Week, desk: Desk
) -> list[Reply]:
    """Monday: last week's visits per head and the estate's open requests, to the secretary."""
    replies = []
    secretaries = await secretaries_of(session, estate_id)
    said = await voices_of(session, secretaries, desk.default_language)
    for user in secretaries:
        say = said[user]
        text = await summary_text(session, estate_id, due, desk, say)
        replies.append(Reply(user, text))
    return replies


async def _places(session: AsyncSession, household_ids: list[int]) -> dict[int, str]:
    """Each household's address within its estate (1栋1单元101室)."""
    if not household_ids:
        return {}
    rows = await session.execute(
        select(Household.id, Building.name, Household.unit, Household.room)
        .join(Building, Building.id == Household.building_id)
        .where(Household.id.in_(household_ids))
    )
    return {h: place(b, u, r) for h, b, u, r in rows}


async def _care(session: AsyncSession, household_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for household, kind in await session.execute(
        select(HouseholdCare.household_id, HouseholdCare.kind).where(
            HouseholdCare.household_id.in_(household_ids)
        )
    ):
        found[household].append(kind)
    return found


def _line(say: Voice, where: str, care: list[str] | None) -> str:
    if not care:
        return say("week.visit_line", place=where)
    kinds = say("week.and").join(say(f"care.{k}") for k in sorted(care))
    return say("week.visit_line_care", place=where, care=kinds)


BUILDERS: dict[RuleKind, Builder] = {
    RuleKind.VISIT_LIST: visit_lists,
    RuleKind.VISIT_NUDGE: visit_nudges,
    RuleKind.CLEANING_EVE: cleaning_eve,
    RuleKind.CLEANING_DAY: cleaning_day,
    RuleKind.ADVERT_CLEANUP: advert_prompts,
    RuleKind.FEE_REMINDER: fee_reminders,
    RuleKind.MEDIATION_DAY: mediation_reminders,
    RuleKind.WEEKLY_SUMMARY: weekly_summaries,
}


ManyBuilder = Callable[
    [AsyncSession, dict[int, Week], datetime, Desk], Awaitable[dict[int, list[Reply]]]
]
# Rules that fall on every estate at once, built for a chunk of estates in a few statements.
MANY_BUILDERS: dict[RuleKind, ManyBuilder] = {
    RuleKind.VISIT_LIST: visit_lists_many,
    RuleKind.MEDIATION_DAY: mediation_reminders_many,
}
