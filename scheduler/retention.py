"""Erase the residents who left longer ago than the retention period; one routine for the job
and its tests."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from models.privacy import departed, erase
from models.store import Store

log = logging.getLogger(__name__)
ACTOR = "system:retention"


async def erase_departed(store: Store, retention: timedelta, now: datetime) -> int:
    """Erase each person gone longer than `retention`, each in its own transaction."""
    async with store.read() as session:
        gone = await departed(session, retention, now)
    for user_id in gone:
        # One at a time: a failure leaves the others done and this one for the next run.
        async with store.write() as session:
            await erase(session, user_id, ACTOR)
    if gone:
        log.info("erased %d residents who left over %d days ago", len(gone), retention.days)
    return len(gone)
