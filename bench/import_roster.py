"""Import a district-sized roster (86,908 households, 244 estates) into a fresh SQLite file.

Run: .venv/bin/python bench/import_roster.py [--households N] [--estates N]
Prints seconds and peak memory (RSS of the importing process) for the first import and for a
re-import of the same file, which must change nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STREETS = 7
COMMUNITIES = 62


def write_roster(path: Path, households: int, estates: int, groups: int | None = None) -> None:
    """Write a seeded roster spread over the district's streets, communities and estates: units
    of 12 households, four to a building, or `groups` units (neighbour groups) in all."""
    rng = random.Random(20261124)
    per_estate = _spread(households, estates)
    units = _spread(groups, estates) if groups else None
    care_words = ["独居老人", "残疾人", "空巢老人", "低保", "留守儿童"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["街道", "社区", "小区", "楼栋", "单元", "房号", "户主", "电话", "关爱对象"]
        )
        for estate, count in enumerate(per_estate):
            community = estate % COMMUNITIES
            street = community % STREETS
            n = 0
            sizes = (
                _spread(count, units[estate])
                if units
                else [12] * (count // 12) + ([count % 12] if count % 12 else [])
            )
            for group, size in enumerate(sizes):
                building, unit = divmod(group, 4)
                for rest in range(size):
                    floor, door = divmod(rest, 2)
                    writer.writerow(
                        [
                            f"第{street + 1}街道",
                            f"第{community + 1}社区",
                            f"小区{estate + 1:03d}",
                            f"{building + 1}栋",
                            f"{unit + 1}单元",
                            f"{floor + 1}0{door + 1}",
                            f"住户{estate:03d}{n:04d}",
                            f"139{rng.randrange(10**8):08d}",
                            rng.choice(care_words) if rng.random() < 0.05 else "",
                        ]
                    )
                    n += 1


def _spread(total: int, parts: int) -> list[int]:
    """`total` in `parts` as even as whole numbers go, the larger first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return wall seconds, its own peak RSS in MB, and its last output line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        # wait4 gives this child's own resource usage, not the largest of all children so far.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output = out.read()
        if child.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{output}\n{err.read()}")
    return seconds, usage.ru_maxrss / 1024, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=86_908)
    parser.add_argument("--estates", type=int, default=244)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        roster = Path(folder) / "roster.csv"
        write_roster(roster, options.households, options.estates)
        env = {**os.environ, "LINZHANG_DATABASE_URL": f"sqlite:///{folder}/bench.db"}
        command = [sys.executable, "-m", "bot"]
        subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
        print(
            f"roster: {options.households} households, {options.estates} estates, "
            f"{roster.stat().st_size / 1e6:.1f} MB CSV"
        )
        for label in ("first import", "re-import"):
            seconds, peak, last = timed(
                [*command, "import-roster", str(roster), "--new-estates"], env
            )
            print(f"{label}: {seconds:.1f} s, peak RSS {peak:.0f} MB — {last}")


if __name__ == "__main__":
    main()
