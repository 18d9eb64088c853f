"""Wire a runtime: transport, ingress, worker and sender over one store."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobEvent,
)

from bot.commands import publish_commands, publish_personal_menus
from bot.config import Settings
from bot.health import add_health
from bot.ingress import poll
from bot.metrics import FIRINGS, LEADER
from bot.outbox_journal import OutboxJournal
from bot.sender import ANSWERS_IN_FLIGHT, Sender, SendLimits
from bot.transport import ALLOWED_UPDATES, Transport
from bot.webhook import listen, serve, webhook_app
from bot.worker import Worker
from handlers.context import Context
from handlers.request_cards import Desk
from handlers.router import Router
from models.leader import Leader, database_file
from models.store import Store
from scheduler.jobs import start_jobs

log = logging.getLogger(__name__)

# Roles change from the command line or by election; menus follow within this time.
MENU_REFRESH_SECONDS = 600
# How often a process that does not lead a job looks whether the leader has gone.
LEADER_RETRY_SECONDS = 5
# How often a leader makes sure its lock's connection is still there.
LEADER_CHECK_SECONDS = 2.0
# How long a stopping bot lets the message in flight finish.
STOP_GRACE_SECONDS = 10


def settle_garbage_collector() -> None:
    """Keep the collector off what start-up built; collect young objects less often.

    The frameworks, SQLAlchemy and the catalogues leave hundreds of thousands of objects that
    live as long as the process (aiogram alone, 170 MB); every full collection would walk
    them all again. Each update makes a few hundred short-lived objects, so the youngest
    generation is collected every few updates at the default threshold of 700. For a process
    that runs the bot and nothing else (`linzhang run`), once its imports are done.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


# Connections to the Bot API beside the sender's calls in flight (its pushes and its answers
# to presses): menus, questions before a batch, the long poll (which has its own).
SPARE_CONNECTIONS = 8 + ANSWERS_IN_FLIGHT


def make_transport(runtime: str, token: str, api_url: str, in_flight: int = 16) -> Transport:
    """Import only the framework that was chosen: aiogram alone costs seconds and 170 MB."""
    if runtime == "aiogram":
        from bot.aiogram_adapter import AiogramTransport

        return AiogramTransport(token, api_url, in_flight + SPARE_CONNECTIONS)
    from bot.ptb_adapter import PtbTransport

    # A call waiting for a connection would reach the server later than it was paced to.
    return PtbTransport(token, api_url, in_flight + SPARE_CONNECTIONS)


@dataclass
class Runtime:
    store: Store
    transport: Transport
    settings: Settings
    limits: SendLimits | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # Every flow declared under handlers/, unless a test brings its own.
    router: Router = field(default_factory=Router)

    async def run(self, *, webhook: bool = False) -> None:
        """Run until `stop` is set; the tasks end cleanly, nothing in flight is lost."""
        await self.transport.start()
        ctx = Context(
            bot_username=self.transport.username,
            default_language=self.settings.language,
            zone=self.settings.zone,
        )
        limits = self.limits or SendLimits(
            overall_per_second=self.settings.send_overall_per_second,
            group_per_minute=self.settings.send_group_per_minute,
            chat_per_second=self.settings.send_chat_per_second,
            in_flight=self.settings.send_in_flight,
            deadline=self.settings.send_deadline,
        )
        sender = Sender(self.store, self.transport, limits, None, self.settings.language)
        worker = Worker(self.store, self.transport, ctx, sender.wake, self.router)
        await publish_commands(self.transport, self.router)
        # Any number of processes handle updates; one at a time polls, sends and schedules.
        tasks = [
            asyncio.create_task(worker.run(self.stop), name="worker"),
            asyncio.create_task(self._led("sender", lambda: self._send(sender)), name="sender"),
            asyncio.create_task(self._led("jobs", self._schedule), name="jobs"),
            asyncio.create_task(self._led("menus", self._menus), name="menus"),
        ]
        # Every process, led or not: checkpoints off the loop's thread (harmless side by side).
        tasks.append(asyncio.create_task(self.store.checkpoint_in_background(), name="checkpoints"))
        site_runner: web.AppRunner | None = None
        if webhook:
            site_runner = await self._start_webhook(worker.arrived.set)
        else:
            site_runner = await self._start_health()
            await self.transport.call("deleteWebhook", {})
            polling = partial(poll, self.store, self.transport, worker.arrived.set, self.stop)
            tasks.append(asyncio.create_task(self._led("poll", polling), name="poll"))
        try:
            await self.stop.wait()
        finally:
            # The sender finishes the send in flight (and records it) rather than be cut off
            # mid-call, which could send that message again after a clean stop.
            sender.wake.set()
            sending = tasks[1]
            for task in tasks:
                if task is not sending:
                    task.cancel()
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await asyncio.shield(sending)
            except Exception:
                sending.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if site_runner is not None:
                await site_runner.cleanup()
            await self.transport.stop()

    async def _led(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a singular job while this process leads it; else wait for the leader to go."""
        leader = Leader(self.store, name)
        try:
            while not self.stop.is_set():
                if await leader.try_acquire():
                    LEADER.labels(name).set(1)
                    try:
                        if await _while_leading(leader, job):
                            return
                        log.warning("%s: lost the lead (the database connection dropped)", name)
                    except Exception:
                        # A job that dies must not leave the deployment without it: log,
                        # step down, and lead it again after the pause below.
                        log.exception("%s stopped unexpectedly; starting it again", name)
                    finally:
                        LEADER.labels(name).set(0)
                    await leader.release()
                try:
                    async with asyncio.timeout(LEADER_RETRY_SECONDS):
                        await self.stop.wait()
                except TimeoutError:
                    pass
        finally:
            await leader.release()

    async def _send(self, sender: Sender) -> None:
        # Only the sender's leader opens the database's journal: on taking the lead it reads
        # what the last leader recorded, on leaving it empties it into the database.
        sender.journal = self._journal()
        try:
            await sender.run(self.stop)
        finally:
            await asyncio.shield(sender.apply_journal())
            if sender.journal is not None:
                sender.journal.close()

    async def _schedule(self) -> None:
        jobs = start_jobs(
            self.store,
            Desk(self.settings.zone, self.settings.language),
            grace=timedelta(hours=self.settings.schedule_grace_hours),
            retention=timedelta(days=self.settings.retention_days),
        )
        jobs.add_listener(_count_firing, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        try:
            await self.stop.wait()
        finally:
            jobs.shutdown(wait=False)

    async def _menus(self) -> None:
        """Keep each person's command menu in step with their roles."""
        while not self.stop.is_set():
            try:
                today = datetime.now(self.settings.zone).date()
                await publish_personal_menus(self.store, self.transport, today, self.router)
            except Exception:
                log.exception("publishing personal menus failed; retrying later")
            try:
                async with asyncio.timeout(MENU_REFRESH_SECONDS):
                    await self.stop.wait()
            except TimeoutError:
                pass

    def _journal(self) -> OutboxJournal | None:
        """The database's outbox journal: beside a SQLite file, none on a server.

        It belongs to the database, not to a process: whoever leads the sender next must read
        what the last leader wrote, so every process finds it from the file itself. Processes
        on one SQLite file share a machine; on PostgreSQL they may not, and each send is marked
        in the database instead.
        """
        home = database_file(self.store)
        return OutboxJournal(Path(f"{home}.outbox-journal")) if home is not None else None

    async def _start_webhook(self, arrived: Callable[[], None]) -> web.AppRunner:
        settings = self.settings
        url = settings.webhook_url
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if not url or not secret:
            raise ValueError("webhook needs LINZHANG_WEBHOOK_URL and LINZHANG_WEBHOOK_SECRET")
        app = webhook_app(
            self.store,
            self.transport.bot_id,
            secret,
            arrived,
            urlsplit(url).path or "/",
        )
        add_health(app, self.store)
        runner = await serve(app, listen(settings.webhook_listen))
        try:
            await self.transport.call(
                "setWebhook",
                {"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES},
            )
        except BaseException:
            # run() never sees a runner it was not given: close the listening socket here.
            await runner.cleanup()
            raise
        return runner

    async def _start_health(self) -> web.AppRunner | None:
        """Serve /healthz and /metrics on a local port while polling (the webhook has them)."""
        address = self.settings.health_listen
        if address == "off":
            return None
        app = web.Application()
        add_health(app, self.store)
        try:
            return await serve(app, listen(address))
        except OSError as error:
            # Another bot on this machine has the port: it answers for its own process only.
            log.warning("health endpoint not started on %s: %s", address, error.strerror)
            return None


async def _while_leading(leader: Leader, job: Callable[[], Awaitable[None]]) -> bool:
    """Run the job while the lead holds; True if it ended, False if the lead was lost."""
    working = asyncio.ensure_future(job())
    watching = asyncio.ensure_future(leader.watch(LEADER_CHECK_SECONDS))
    try:
        await asyncio.wait([working, watching], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
        raise
    finally:
        watching.cancel()
    if working.done():
        working.result()  # a failure is raised here, for the caller to log
        return True
    working.cancel()
    await asyncio.gather(working, return_exceptions=True)
    return False


def _count_firing(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        outcome = "missed"
    else:
        outcome = "failed" if getattr(event, "exception", None) is not None else "ran"
    FIRINGS.labels(event.job_id, outcome).inc()
