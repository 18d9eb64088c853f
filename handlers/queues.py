"""Lists of requests: /my for residents, /tasks for those who work on them, /queue for deciders."""

from __future__ import annotations

from sqlalchemy import or_, select

from handlers.context import Context
from handlers.events import Incoming, Reply, answer
from handlers.flow import Command, Flow, Where
from handlers.request_cards import Desk, deadline_phrase
from handlers.speech import Voice
from handlers.turn import Turn
from handlers.week_summary import summary_text
from models.base import utcnow
from models.person import Resident
from models.request import CLOSED, DECIDING, WORKING, Level, Request
from models.request_counts import estates_in
from models.role import Role, live_assignments
from models.scope import Scope, ScopeKind

SHOWN = 20
# The level at which each role decides on what climbs to it.
DECIDES_AT = {
    Role.SECRETARY: Level.BRANCH,
    Role.FIRST_SECRETARY: Level.BRANCH,
    Role.COMMUNITY_STAFF: Level.COMMUNITY,
    Role.STREET_STAFF: Level.STREET,
}


async def my(turn: Turn) -> list[Reply]:
    """The person's own requests and their household's since they joined it, newest first.

    A card can be copied, so a newcomer does not see what other members filed before them
    (a dispute with the neighbours, say).
    """
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    since_joining = (
        select(Resident.id)
        .where(
            Resident.user_id == event.user_id,
            Resident.unbound_at.is_(None),
            Resident.household_id == Request.household_id,
            Resident.consented_at <= Request.created_at,
        )
        .exists()
    )
    rows = await session.scalars(
        select(Request)
        .where(or_(Request.filed_by == event.user_id, since_joining))
        .order_by(Request.id.desc())
        .limit(SHOWN)
    )
    return [_listing(event, ctx, say, list(rows), "req.my_header", "req.my_none")]


async def tasks(turn: Turn) -> list[Reply]:
    """What this head or force member has open, overdue first."""
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    mine = await live_assignments(session, user_id=event.user_id, on=ctx.today())
    forces = [(a.scope_id, a.force) for a in mine if a.role == Role.FORCE_MEMBER.value and a.force]
    who = [Request.handler_user_id == event.user_id]
    who += [(Request.estate_id == estate) & (Request.force == force) for estate, force in forces]
    rows = await session.scalars(
        select(Request)
        .where(or_(*who), Request.state.in_([s.value for s in WORKING]))
        .order_by(Request.deadline_at.is_(None), Request.deadline_at)
        .limit(SHOWN)
    )
    return [_listing(event, ctx, say, list(rows), "req.tasks_header", "req.tasks_none")]


async def queue(turn: Turn) -> list[Reply]:
    """For deciders: what waits for their decision, then what is overdue where they serve."""
    session, event, ctx, say = turn.session, turn.event, turn.ctx, turn.say
    mine = await live_assignments(session, user_id=event.user_id, on=ctx.today())
    deciding = []
    estates: list[int] = []
    for a in mine:
        level = DECIDES_AT.get(Role(a.role))
        if level is None:
            continue
        where = Scope(ScopeKind(a.scope_kind), a.scope_id, "")
        theirs = await estates_in(session, where) or []
        estates += theirs
        deciding.append(Request.estate_id.in_(theirs) & (Request.level == level))
    if not deciding:
        return [answer(event, say("req.queue_none"))]
    waiting = await session.scalars(
        select(Request)
        .where(or_(*deciding), Request.state.in_([s.value for s in DECIDING]))
        .order_by(Request.deadline_at)
        .limit(SHOWN)
    )
    overdue = await session.scalars(
        select(Request)
        .where(
            Request.estate_id.in_(estates),
            Request.state.not_in([s.value for s in (*CLOSED, *DECIDING)]),
            Request.deadline_at < utcnow(),
        )
        .order_by(Request.deadline_at)
        .limit(SHOWN)
    )
    replies = [
        _listing(event, ctx, say, list(waiting), "req.queue_header", "req.queue_none"),
        _listing(event, ctx, say, list(overdue), "req.overdue_header", "req.overdue_none"),
    ]
    # A secretary also sees the estate's week: visits per head, cleaning days, stale households.
    for a in mine:
        if a.role == Role.SECRETARY.value:
            desk = Desk(ctx.zone, ctx.default_language)
            text = await summary_text(session, a.scope_id, utcnow(), desk, say)
            replies.append(answer(event, text))
    return replies


def _listing(
    event: Incoming, ctx: Context, say: Voice, rows: list[Request], header: str, empty: str
) -> Reply:
    if not rows:
        return answer(event, say(empty))
    now = utcnow()
    lines = [say(header)]
    for request in rows:
        late = request.deadline_at is not None and request.deadline_at < now
        lines.append(
            say(
                "req.line_overdue" if late else "req.line",
                reference=request.reference,
                kind=say(f"req.kind.{request.kind}"),
                state=say(f"req.state.{request.state}"),
                deadline=deadline_phrase(request, say, ctx.zone),
                description=request.description[:40],
            )
        )
    return answer(event, "\n".join(lines))


WORKERS = frozenset(
    {
        Role.NEIGHBOUR_HEAD,
        Role.FORCE_MEMBER,
        Role.SECRETARY,
        Role.FIRST_SECRETARY,
        Role.COMMUNITY_STAFF,
        Role.STREET_STAFF,
    }
)

FLOW = Flow(
    name="queues",
    commands=(
        Command("my", my, where=Where.PRIVATE, rank=20),
        Command("queue", queue, roles=frozenset(DECIDES_AT), where=Where.PRIVATE, rank=70),
        Command("tasks", tasks, roles=WORKERS, where=Where.PRIVATE, rank=80),
    ),
)
