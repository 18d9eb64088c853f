"""Elections closed and begun: those every household has voted in, those whose voting has
ended at the deadline, the terms whose publication is over. One routine for the job and the
tests."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.election_words import Speaker, closings, group_label, welcome_head
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.base import utcnow
from models.election import Election
from models.election_close import (
    close_many,
    complete,
    due_to_close,
    due_to_start,
    start_term,
)
from models.inbox import updates_waiting
from models.store import Store

log = logging.getLogger(__name__)

# Elections are closed a few at a time, each few in its own short transaction, and while
# updates wait for the worker only a few each run: a district's election day ends at the same
# 18:00 for thousands of groups, and on it a hundred groups a second may have every household
# voted. The people pressing wait for their answers; a result can wait a few seconds more.
BATCH = 10

Find = Callable[[AsyncSession], Awaitable[list[Election]]]


async def run_elections(store: Store, speaker: Speaker, now: datetime | None = None) -> int:
    """Close the elections every household has voted in and those whose voting has ended (only
    a few a run while updates wait), start every term whose publication has; return how many
    were acted on."""
    now = now or utcnow()
    acted = await _close(store, speaker, now, "system:all_voted", lambda s: complete(s, BATCH))
    acted += await _close(
        store, speaker, now, "system:deadline", lambda s: due_to_close(s, now, BATCH)
    )
    async with store.read() as session:
        starting = bool(await due_to_start(session, now))
    if starting:
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


async def _close(store: Store, speaker: Speaker, now: datetime, actor: str, find: Find) -> int:
    """Close, a few to a transaction, the elections `find` names; return how many."""
    # Looked for first without the write lock: the job runs every few seconds, mostly idle.
    async with store.read() as session:
        if not await find(session):
            return 0
    acted = 0
    while True:
        async with store.write() as session:
            due = await find(session)
            # Together, each statement for all of them; those another worker closed
            # meanwhile are left out.
            closed = await close_many(session, due, actor, now, speaker.zone)
            enqueue(session, await closings(session, closed, speaker), None)
        acted += len(due)
        if len(due) < BATCH:
            return acted
        async with store.read() as session:
            if await updates_waiting(session):
                return acted  # the rest on the next run, seconds on
