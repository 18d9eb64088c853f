"""Elections at their deadlines: close the voting, start the terms. One routine for the job
and the tests."""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.election_words import Speaker, closings, group_label, welcome_head
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.base import utcnow
from models.election_close import close_many, due_to_close, due_to_start, start_term
from models.store import Store

log = logging.getLogger(__name__)

# Elections are closed a few at a time, each few in its own short transaction: a district's
# election day ends at the same 18:00 for thousands of groups, and the chat must not wait
# behind all of them.
BATCH = 20


async def run_elections(store: Store, speaker: Speaker, now: datetime | None = None) -> int:
    """Close every election whose voting has ended and start every term whose publication has;
    return how many were acted on."""
    now = now or utcnow()
    acted = 0
    while True:
        async with store.write() as session:
            due = (await due_to_close(session, now))[:BATCH]
            # Together, each statement for all of them; those every household voted in and
            # that closed meanwhile are left out.
            closed = await close_many(session, due, "system:deadline", now, speaker.zone)
            enqueue(session, await closings(session, closed, speaker), None)
        acted += len(due)
        if len(due) < BATCH:
            break
    async with store.write() as session:
        for election in await due_to_start(session, now):
            winner, _ = await start_term(session, election, now.astimezone(speaker.zone).date())
            group = await group_label(session, election.group_id)
            welcome: list[Reply] = [await welcome_head(session, winner, speaker, group)]
            enqueue(session, welcome, None)
            acted += 1
    if acted:
        log.info("elections: %s closed or begun", acted)
    return acted
