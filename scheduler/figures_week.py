"""Monday's figures for community and street staff: last week's figures of the unit each serves,
privately, once per unit and week. One routine for the job and its tests."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

from handlers.events import Reply
from handlers.figures_out import figures_text
from handlers.outgoing import enqueue
from handlers.request_cards import Desk
from handlers.speech import voice_of
from models.figures import Period, Unit, report
from models.figures_push import claim_push
from models.role import Role, live_assignments
from models.scope import ScopeKind, describe_scope
from models.store import Store

log = logging.getLogger(__name__)

# Sent from Monday at this time, local; a process down then sends it when it is back that week.
SEND_FROM = time(9, 0)
STAFF = {Role.COMMUNITY_STAFF: ScopeKind.COMMUNITY, Role.STREET_STAFF: ScopeKind.STREET}


async def push_weekly_figures(store: Store, desk: Desk, now: datetime) -> int:
    """Send last week's figures to each unit's staff unless sent already; return units sent."""
    local = now.astimezone(desk.zone)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, SEND_FROM, desk.zone):
        return 0
    week = Period(monday - timedelta(days=7), monday - timedelta(days=1))
    async with store.read() as session:
        held = [
            assignment
            for role in STAFF
            for assignment in await live_assignments(session, role=role, on=local.date())
        ]
    serving: dict[tuple[ScopeKind, int], list[int]] = defaultdict(list)
    for assignment in held:
        kind = STAFF.get(Role(assignment.role))
        if kind is not None:
            serving[(kind, assignment.scope_id)].append(assignment.user_id)
    sent = 0
    for (kind, unit_id), staff in sorted(serving.items()):
        # One unit a transaction: its record and its messages commit together.
        async with store.write() as session:
            if not await claim_push(session, kind.value, unit_id, week.first):
                continue
            scope = await describe_scope(session, kind, unit_id)
            found = await report(session, Unit(kind.value, unit_id, scope.spoken), week, desk.zone)
            replies = []
            for user in sorted(set(staff)):
                say = await voice_of(session, user, desk.default_language)
                replies.append(Reply(user, say("figures.weekly") + "\n" + figures_text(found, say)))
            enqueue(session, replies, None)
            sent += 1
    if sent:
        log.info("weekly figures sent for %d units", sent)
    return sent
