"""SQLite and the event loop: what a statement costs, and what another process's lock does.

  ops      N one-row write transactions and N point reads through `Store.write()` and
           `Store.read()`, on the inline driver and on aiosqlite's thread (`inline=False`):
           CPU and wall time per operation
  lag      another process holds SQLite's write lock for 2 s while one `Store.write()` waits
           for it; a ticker every 5 ms records how late it wakes: loop lag p50/p99/max during
           the hold, and how long after the other process commits the waiting write is done
  commits  N write transactions of about 1 KB each, the wall time of each: SQLite's own
           checkpoints at commit (autocheckpoint, the default) against checkpoints on a worker
           thread (`Store.checkpoint_in_background()`, what `linzhang run` does)

Every part runs on whichever code is on the path, so the same file measures an older copy
(`git archive HEAD | tar -x -C /tmp/old`, the file copied into /tmp/old/bench/).

Run: .venv/bin/python bench/lock.py ops      (or lag, commits; --runs N)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from models.store import Store

TICK = 0.005
HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO bench(v) VALUES ('from the other process')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
print("released", flush=True)
"""
INSERT = text("INSERT INTO bench(v) VALUES (:v)")
POINT = text("SELECT v FROM bench WHERE id = :id")
ROW = "本周走访名单 " * 20


async def fresh_store(folder: str, **options: Any) -> Store:
    """A store on a new file with one table to write to."""
    store = Store(f"sqlite+aiosqlite:///{folder}/bench.db", **options)
    async with store.write() as session:
        await session.execute(text("CREATE TABLE bench(id INTEGER PRIMARY KEY, v TEXT)"))
    return store


def per_op(start_cpu: float, start_wall: float, runs: int) -> str:
    cpu = (time.process_time() - start_cpu) / runs * 1e6
    wall = (time.perf_counter() - start_wall) / runs * 1e6
    return f"{cpu:6.0f} µs CPU {wall:6.0f} µs wall"


async def ops(runs: int) -> None:
    for name, inline in (("inline", True), ("aiosqlite thread", False)):
        with tempfile.TemporaryDirectory() as folder:
            store = await fresh_store(folder, inline=inline)
            for _ in range(200):  # warm the pool and the statement caches
                async with store.write() as session:
                    await session.execute(INSERT, {"v": ROW})
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(runs):
                async with store.write() as session:
                    await session.execute(INSERT, {"v": ROW})
            writes = per_op(cpu, wall, runs)
            cpu, wall = time.process_time(), time.perf_counter()
            for n in range(runs):
                async with store.read() as session:
                    await session.scalar(POINT, {"id": n + 1})
            reads = per_op(cpu, wall, runs)
            await store.dispose()
        print(f"  {name:17} write transaction {writes}   point read {reads}")


async def ticker(lateness: list[float], stop: asyncio.Event) -> None:
    """Wake every TICK and record how late each wake-up is."""
    loop = asyncio.get_running_loop()
    expected = loop.time() + TICK
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = loop.time()
        lateness.append(max(0.0, now - expected))
        expected = now + TICK


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50, p99, top = quantile(ordered, 0.5), quantile(ordered, 0.99), ordered[-1]
    return f"p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:7.2f} ms  max {top * 1000:7.2f} ms"


async def hold_and_wait(store: Store, path: str, hold: float) -> tuple[list[float], float]:
    """Let another process hold the lock while a write waits; return lateness, write after."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, path, str(hold), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"locked"
    lateness: list[float] = []
    stop = asyncio.Event()
    ticks = asyncio.create_task(ticker(lateness, stop))

    async def write() -> float:
        async with store.write() as session:
            await session.execute(INSERT, {"v": ROW})
        return time.perf_counter()

    writing = asyncio.create_task(write())
    await holder.stdout.readline()
    # The holder prints "released" right after its COMMIT; the pipe adds well under 1 ms.
    released = time.perf_counter()
    stop.set()
    done = await writing
    await ticks
    await holder.wait()
    return lateness, done - released


async def lag(hold: float) -> None:
    for name, inline in (("inline", True), ("aiosqlite thread", False)):
        with tempfile.TemporaryDirectory() as folder:
            store = await fresh_store(folder, inline=inline)
            lateness, after = await hold_and_wait(store, f"{folder}/bench.db", hold)
            waits = getattr(store, "lock_waits", None)
            await store.dispose()
        stalled = sum(lateness) / hold * 100
        print(
            f"  {name:17} loop lag during the hold {quantiles(lateness)}"
            f"  ({len(lateness)} ticks, loop stalled {stalled:4.1f} % of the hold);"
            f" write done {after * 1000:5.1f} ms after the commit"
            + (f", {waits} lock wait(s)" if waits is not None else "")
        )


async def commits(runs: int) -> None:
    for background in (False, True):
        if background and not hasattr(Store, "checkpoint_in_background"):
            print("  (this copy of the code has no background checkpoints)")
            continue
        with tempfile.TemporaryDirectory() as folder:
            store = await fresh_store(folder)
            checkpoints = None
            if background:
                checkpoints = asyncio.create_task(store.checkpoint_in_background())
                await asyncio.sleep(0)  # let it turn SQLite's own checkpoints off
            latencies = []
            lateness: list[float] = []
            stop = asyncio.Event()
            ticks = asyncio.create_task(ticker(lateness, stop))
            cpu = time.process_time()
            for _ in range(runs):
                start = time.perf_counter()
                async with store.write() as session:
                    await session.execute(INSERT, {"v": ROW * 5})
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(0)  # as a bot's tasks do between transactions
            cpu_per = (time.process_time() - cpu) / runs * 1e6
            stop.set()
            await ticks
            wal = os.stat(f"{folder}/bench.db-wal").st_size
            if checkpoints is not None:
                checkpoints.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checkpoints
            await store.dispose()
        name = "off + background" if background else "on (SQLite's own)"
        ordered = sorted(latencies)
        slow = sum(1 for latency in latencies if latency > 0.002)
        print(
            f"  autocheckpoint {name:18} commit {quantiles(latencies)}"
            f"  p99.9 {quantile(ordered, 0.999) * 1000:5.2f} ms  over 2 ms: {slow}"
            f"  mean {statistics.fmean(latencies) * 1e6:4.0f} µs  {cpu_per:4.0f} µs CPU"
            f"  wal {wal / 1e6:4.1f} MB\n  {'':33} loop lag {quantiles(lateness)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["ops", "lag", "commits"])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--hold", type=float, default=2.0, help="seconds the lock is held")
    options = parser.parse_args()
    if options.what == "ops":
        asyncio.run(ops(options.runs))
    elif options.what == "lag":
        asyncio.run(lag(options.hold))
    else:
        asyncio.run(commits(options.runs))


if __name__ == "__main__":
    main()
