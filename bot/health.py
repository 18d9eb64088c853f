"""/healthz and /metrics: on the webhook's server, or on a local port of their own when polling."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.metrics import LEADER, exposition
from models.store import Store

log = logging.getLogger(__name__)

# Longer than this, the database counts as not answering.
DATABASE_SECONDS = 2.0


def add_health(app: web.Application, store: Store) -> None:
    """Answer /healthz (is the database there, what does this process lead) and /metrics."""

    async def healthz(_: web.Request) -> web.Response:
        leads = sorted(
            sample.labels["job"]
            for metric in LEADER.collect()
            for sample in metric.samples
            if sample.value == 1
        )
        try:
            async with asyncio.timeout(DATABASE_SECONDS), store.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:
            # The kind of failure only: a connection error may carry the database's address.
            log.warning("health check: the database does not answer (%s)", type(error).__name__)
            return web.json_response({"status": "down", "database": "down"}, status=503)
        return web.json_response({"status": "ok", "database": "ok", "leads": leads})

    async def metrics(_: web.Request) -> web.Response:
        body = await exposition(store)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
