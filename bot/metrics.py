"""What a running bot counts, for Prometheus: updates, sends, firings, leadership, the outbox.

Counters live in this process; the outbox's depth and age are read from the database when
/metrics is asked, since any process may have written the rows.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from models.base import utcnow
from models.outbox import backlog
from models.store import Store

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "linzhang_updates_handled",
    "Updates handled, by how it went (handled, failed: the person got an apology)",
    ["outcome"],
    registry=REGISTRY,
)
HANDLE_SECONDS = Histogram(
    "linzhang_update_handle_seconds",
    "Time to handle one update inside its batch, handler and reads included",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
SENDS = Counter(
    "linzhang_sends",
    "Calls to the Bot API by the sender, by method and outcome",
    ["method", "outcome"],
    registry=REGISTRY,
)
FIRINGS = Counter(
    "linzhang_scheduler_firings",
    "Scheduled jobs run, by job and outcome (ran, failed, missed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "linzhang_leader",
    "1 while this process leads the job (polling, sending, scheduling, menus)",
    ["job"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("linzhang_outbox_depth", "Messages waiting to be sent", registry=REGISTRY)
OUTBOX_OLDEST = Gauge(
    "linzhang_outbox_oldest_seconds",
    "Age of the oldest message waiting to be sent (0 when none waits)",
    registry=REGISTRY,
)


async def exposition(store: Store) -> bytes:
    """Read the outbox's depth and oldest age, then render every metric in Prometheus' format."""
    async with store.read() as session:
        depth, oldest = await backlog(session)
    OUTBOX_DEPTH.set(depth)
    OUTBOX_OLDEST.set(0 if oldest is None else (utcnow() - oldest).total_seconds())
    return generate_latest(REGISTRY)
