"""Chat runtime benchmarks against the local Bot API server, the bot in its own process.

  throughput  20,000 updates (registrations, button presses, /me) through the whole stack,
              the same number through a bare echo bot of the same framework, and the echo
              bot's own traffic (plain text) through the whole stack
  latency     an offered load of 30 updates/s; update arrival → reply arrival at the server
  outbox      7,405 messages to distinct chats with the server enforcing a cap

Run: .venv/bin/python bench/chat.py throughput --runtime ptb   (see --help; --echo-on-aiohttp
gives the PTB echo bot the networking Linzhang uses)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_roster import write_roster
from bot.sandbox.server import BotApiServer, Latency
from handlers.events import Reply
from handlers.outgoing import enqueue
from models.contact_card import cards_for
from models.migrate import upgrade
from models.registry import Household
from models.roster import apply_import, plan_import
from models.roster_file import read_roster
from models.store import Store

TOKEN = "4242424242:BenchTokenForTheLocalBotApiServer"
FIRST_USER = 10_000_000
HERE = Path(__file__).resolve().parent


async def seed(database: str, households: int, folder: Path) -> list[str]:
    """A migrated database with `households` households, each with a card; return payloads."""
    roster = folder / "roster.csv"
    write_roster(roster, households, max(1, households // 356))
    rows, errors = read_roster(roster)
    assert not errors
    store = Store(database)
    await upgrade(store)
    async with store.write() as session:
        await apply_import(session, await plan_import(session, rows, True), "bench", {})
        from sqlalchemy import select

        ids = list(await session.scalars(select(Household.id).order_by(Household.id)))
        issue = await cards_for(session, ids, "bench")
        payloads = [issue.cards[i].payload for i in ids]
    await store.dispose()
    return payloads


class Child:
    """The bot under test in its own process; its CPU and peak memory read from /proc."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str]) -> Child:
        process = await asyncio.create_subprocess_exec(
            *args,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(process)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# Set by --profile: run the bot under cProfile and write its statistics there.
PROFILE: str | None = None


def bot_command(kind: str, runtime: str) -> list[str]:
    if kind == "echo":
        return [sys.executable, str(HERE / f"echo_{runtime}.py")]
    profile = ["-m", "cProfile", "-o", PROFILE] if PROFILE else []
    return [sys.executable, *profile, "-m", "bot", "run"]


async def ready(server: BotApiServer) -> None:
    """Wait until the bot is long-polling."""
    while not any(method.lower() == "getupdates" for _, method, _ in server.requests):  # noqa: ASYNC110 - the server has no event for it
        await asyncio.sleep(0.05)


async def world(
    database: str, runtime: str, users: int, **settings: str
) -> tuple[BotApiServer, list[int], dict[str, str]]:
    """Start the server with `users` residents; return it, their ids and the bot's settings."""
    server = BotApiServer(TOKEN, "LinzhangBenchBot")
    url = await server.start()
    ids = [FIRST_USER + n for n in range(users)]
    for user in ids:
        server.add_user(user, f"居民{user}")
    env = {
        "LINZHANG_DATABASE_URL": database,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": url,
        "LINZHANG_RUNTIME": runtime,
        **settings,
    }
    return server, ids, env


# Set by --echo-on-aiohttp: the PTB echo bot uses the networking Linzhang's PTB runtime uses.
ECHO_ENV: dict[str, str] = {}


async def throughput(
    runtime: str, kind: str, updates: int, traffic: str = "registrations"
) -> dict[str, float]:
    """Run one bot through three waves of updates; `traffic` "echo" sends plain text only."""
    users = updates // 3
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        payloads = await seed(database, users, Path(folder))
        # Replies are not pushes: the echo bot has no pacing, so neither does this run.
        server, ids, env = await world(
            database,
            runtime,
            users,
            LINZHANG_SEND_OVERALL_PER_SECOND="100000",
            LINZHANG_SEND_CHAT_PER_SECOND="100000",
        )
        child = await Child.start(bot_command(kind, runtime), {**env, **ECHO_ENV})
        await ready(server)
        cpu_before = child.cpu_seconds()
        start = time.perf_counter()
        if kind == "echo" or traffic == "echo":
            for phase in range(3):
                for user in ids:
                    await server.send_text(user, f"hello {phase}")
                await server.wait_total(users * (phase + 1), timeout=600)
        else:
            for user, payload in zip(ids, payloads, strict=True):
                await server.send_text(user, f"/start {payload}")
            await server.wait_total(users, timeout=600)
            consent = {s.chat_id: s for s in server.sent}
            for user in ids:
                await server.press(user, consent[user], 0)
            await server.wait_total(users * 2, timeout=600)
            for user in ids:
                await server.send_text(user, "/me")
            await server.wait_total(users * 3, timeout=600)
        seconds = time.perf_counter() - start
        cpu = child.cpu_seconds() - cpu_before
        peak = child.peak_mb()
        await child.stop()
        await server.stop()
    handled = users * 3
    return {
        "updates": handled,
        "seconds": seconds,
        "per_second": handled / seconds,
        "cpu_per_1000": cpu / handled * 1000,
        "peak_mb": peak,
    }


async def latency(runtime: str, rate: float, seconds: float) -> dict[str, float]:
    count = int(rate * seconds)
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        await seed(database, 10, Path(folder))
        server, ids, env = await world(database, runtime, count)
        child = await Child.start(bot_command("linzhang", runtime), env)
        await ready(server)
        await asyncio.sleep(1.0)
        sent_at: dict[int, float] = {}
        start = time.time()
        for n, user in enumerate(ids):
            delay = start + n / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[user] = time.time()
            await server.send_text(user, "/help")
        await server.wait_total(count, timeout=120)
        waits = sorted((s.at - sent_at[s.chat_id]) * 1000 for s in server.sent)
        await child.stop()
        await server.stop()
    return {
        "updates": count,
        "p50_ms": statistics.median(waits),
        "p99_ms": waits[int(len(waits) * 0.99) - 1],
        "max_ms": waits[-1],
    }


async def outbox(runtime: str, messages: int, cap: int, rtt: float) -> dict[str, float]:
    """Push `messages` notices at the cap over a network of round trip `rtt`, while a resident
    asks /help every two seconds; how fast the push goes and how long the resident waits."""
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.db"
        await seed(database, 10, Path(folder))
        server, chats, env = await world(
            database, runtime, messages + 1, LINZHANG_SEND_OVERALL_PER_SECOND=str(cap)
        )
        *chats, resident = chats
        store = Store(database)
        async with store.write() as session:
            enqueue(session, [Reply(chat, f"本周走访名单 {chat}") for chat in chats], None)
        await store.dispose()
        found = await push(server, env, runtime, set(chats), resident, cap, rtt)
    return {
        **found,
        "rate_over_cap": found["rate"] / cap,
        "used_over_cap": found["used"] / cap,
    }


async def push(
    server: BotApiServer,
    env: dict[str, str],
    runtime: str,
    chats: set[int],
    resident: int,
    cap: int,
    rtt: float,
) -> dict[str, float]:
    """Run the bot over a network of round trip `rtt` that refuses above `cap` until every chat
    has its message, a resident asking /help every two seconds; then stop bot and server."""
    server.limits.enforce = True
    server.limits.overall_per_second = cap
    # A network: every call, the long poll included, takes the round trip, give or take.
    server.latency = Latency(rtt=rtt, jitter=rtt * 0.05)
    child = await Child.start(bot_command("linzhang", runtime), env)
    await server.wait_total(1, timeout=60)
    start, cpu = time.perf_counter(), child.cpu_seconds()
    first = len(server.sent)
    waits: list[float] = []
    asking = asyncio.create_task(ask_help(server, resident, waits))
    await server.wait_until(reached_all(server, chats), timeout=len(chats) / cap * 3 + 60)
    seconds, cpu = time.perf_counter() - start, child.cpu_seconds() - cpu
    asking.cancel()
    peak = child.peak_mb()
    await child.stop()
    await server.stop()
    pushed = [s for s in server.sent if s.chat_id != resident]
    delivered = {s.chat_id for s in pushed}
    waits.sort()
    return {
        "messages": len(chats),
        "seconds": seconds,
        "cpu": cpu,
        "rate": (len(pushed) - first) / seconds,
        # What the server received in the measured time, answers included: the cap's use.
        "used": (len(server.sent) - first) / seconds,
        "rejected_429": server.rejected_429,
        "lost": len(chats - delivered),
        "twice": len(pushed) - len(delivered),
        "asked": len(waits),
        "p50_ms": statistics.median(waits) * 1000 if waits else 0.0,
        "p99_ms": waits[max(0, int(len(waits) * 0.99) - 1)] * 1000 if waits else 0.0,
        "max_ms": waits[-1] * 1000 if waits else 0.0,
        "peak_mb": peak,
    }


def reached_all(server: BotApiServer, chats: set[int]) -> Callable[[], bool]:
    """Tell whether every one of the chats has been sent something (read as messages come)."""
    seen: set[int] = set()
    read = 0

    def reached() -> bool:
        nonlocal read
        seen.update(sent.chat_id for sent in server.sent[read:])
        read = len(server.sent)
        return chats <= seen

    return reached


async def ask_help(server: BotApiServer, resident: int, waits: list[float]) -> None:
    """A resident who asks /help every two seconds: from their message to the answer."""
    while True:
        seen = len(server.sent_to(resident))
        asked = time.time()
        await server.send_text(resident, "/help")
        answer = (await server.wait_sent(resident, seen + 1, timeout=60))[seen]
        waits.append(answer.at - asked)
        await asyncio.sleep(max(0.0, asked + 2.0 - time.time()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["throughput", "latency", "outbox"])
    parser.add_argument("--runtime", choices=["ptb", "aiogram"], default="ptb")
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--messages", type=int, default=7_405)
    parser.add_argument("--cap", type=int, default=30)
    parser.add_argument(
        "--rtt", type=float, default=0.0, help="outbox: the network's round trip, in ms"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the bot into FILE")
    parser.add_argument(
        "--echo-on-aiohttp",
        action="store_true",
        help="run the PTB echo bot on bot/ptb_request.py (its default is httpx)",
    )
    options = parser.parse_args()
    global PROFILE
    PROFILE = options.profile
    if options.echo_on_aiohttp:
        ECHO_ENV["ECHO_REQUEST"] = "aiohttp"
    if options.what == "throughput":
        echo = asyncio.run(throughput(options.runtime, "echo", options.updates))
        same = asyncio.run(throughput(options.runtime, "linzhang", options.updates, "echo"))
        full = asyncio.run(throughput(options.runtime, "linzhang", options.updates))
        print(f"runtime {options.runtime}, {full['updates']} updates")
        for name, result in (
            ("bare echo bot", echo),
            ("linzhang, the echo bot's traffic", same),
            ("linzhang, registrations", full),
        ):
            print(
                f"  {name:32} {result['per_second']:5.0f} updates/s  "
                f"{result['cpu_per_1000']:5.2f} CPU s/1000  peak RSS {result['peak_mb']:4.0f} MB"
            )
        print(
            f"  ratio, registrations {full['per_second'] / echo['per_second']:.2f}; "
            f"the echo bot's traffic {same['per_second'] / echo['per_second']:.2f}"
        )
    elif options.what == "latency":
        result = asyncio.run(latency(options.runtime, options.rate, options.seconds))
        print(
            f"runtime {options.runtime}, {result['updates']:.0f} updates at {options.rate:.0f}/s: "
            f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"max {result['max_ms']:.1f} ms"
        )
    else:
        result = asyncio.run(
            outbox(options.runtime, options.messages, options.cap, options.rtt / 1000)
        )
        print(
            f"runtime {options.runtime}, {result['messages']:.0f} messages, cap {options.cap}/s, "
            f"round trip {options.rtt:.0f} ms: notices {result['rate']:.1f}/s = "
            f"{result['rate_over_cap']:.3f} of the cap (with the answers "
            f"{result['used_over_cap']:.3f}), 429s {result['rejected_429']:.0f}, "
            f"lost {result['lost']:.0f}, sent twice {result['twice']:.0f}, "
            f"{result['seconds']:.0f} s, peak RSS {result['peak_mb']:.0f} MB\n"
            f"  /help every 2 s during the push ({result['asked']:.0f} asked): "
            f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
            f"max {result['max_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
