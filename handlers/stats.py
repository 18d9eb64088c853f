"""/stats: the figures of the unit a secretary or staff member serves, this month, with a chart."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from handlers.events import Reply
from handlers.figures_out import figures_text
from handlers.flow import Command, Flow, Where
from handlers.turn import Turn
from models.figures import Period, Unit, report
from models.role import Role, live_assignments
from models.scope import ScopeKind, describe_scope

NAME = "stats"
# The widest unit a person serves is the one shown.
SERVES = {
    Role.STREET_STAFF: ScopeKind.STREET,
    Role.COMMUNITY_STAFF: ScopeKind.COMMUNITY,
    Role.SECRETARY: ScopeKind.ESTATE,
}
WIDTH = [ScopeKind.STREET, ScopeKind.COMMUNITY, ScopeKind.ESTATE]
# One thread draws every chart, one at a time: matplotlib keeps its fonts per thread (the CJK
# font holds megabytes), loaded once here instead of once in each of the default pool's.
DRAWING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart")


async def stats(turn: Turn) -> list[Reply]:
    """Answer with this month's figures of the asker's own unit, and a chart of its parts."""
    session, ctx, say = turn.session, turn.ctx, turn.say
    today = ctx.today()
    held = [
        a
        for a in await live_assignments(session, user_id=turn.event.user_id, on=today)
        if Role(a.role) in SERVES
    ]
    if not held:
        return [turn.answer("stats.none")]
    widest = min(held, key=lambda a: WIDTH.index(SERVES[Role(a.role)]))
    scope = await describe_scope(session, ScopeKind(widest.scope_kind), widest.scope_id)
    unit = Unit(scope.kind.value, scope.id, scope.spoken)
    found = await report(session, unit, Period(today.replace(day=1), today), ctx.zone)
    chat = turn.event.chat_id

    async def draw() -> list[Reply]:
        # matplotlib only when asked (every process would pay its import), off the loop.
        from handlers.figures_chart import chart

        loop = asyncio.get_running_loop()
        picture = await loop.run_in_executor(DRAWING, chart, found, say.language)
        return [Reply(chat, say("stats.chart"), photo=picture)]

    # The figures at once; the chart, a fifth of a second to draw, after the batch.
    turn.after(draw)
    return [turn.answer_text(figures_text(found, say))]


ROLES = frozenset(SERVES)
FLOW = Flow(
    name=NAME,
    commands=(Command("stats", stats, roles=ROLES, where=Where.PRIVATE, rank=75),),
)
