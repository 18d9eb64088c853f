"""The command line and the bot start light: a command imports only its own module, the bot
no drawing library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer.main

from bot.cli import COMMANDS, GROUPS, build

CLI = Path(__file__).resolve().parent.parent / "bot" / "cli"


def test_every_command_module_is_in_the_table() -> None:
    modules = {path.stem for path in CLI.glob("*.py")} - {"__init__", "common"}
    assert modules == set(GROUPS.values()) | set(COMMANDS.values())


def test_the_whole_command_line_holds_every_command() -> None:
    names = set(typer.main.get_command(build()).commands)  # type: ignore[attr-defined]
    assert names == set(GROUPS) | set(COMMANDS)


def test_a_command_imports_no_other_command_module() -> None:
    script = (
        "import sys, atexit\n"
        "mine = lambda: sorted(m for m in sys.modules if m.startswith('bot.cli.'))\n"
        "atexit.register(lambda: print(mine()))\n"
        "sys.argv = ['linzhang', 'report', '--help']\n"
        "from bot.cli import main\n"
        "main()\n"
    )
    done = _python(script)
    assert "--period" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "['bot.cli.common', 'bot.cli.report']"


def test_the_bot_starts_without_the_drawing_libraries() -> None:
    # The router imports every module of handlers/: a chart's libraries (40 MB and a third
    # of a second) must wait for the first /stats, not come with every process.
    script = (
        "import sys\n"
        "from handlers.router import Router\n"
        "Router()\n"
        "print(sorted({'matplotlib', 'openpyxl', 'reportlab'} & set(sys.modules)))\n"
    )
    assert _python(script).stdout.strip() == "[]"


def _python(script: str) -> subprocess.CompletedProcess[str]:
    """Run a script in a fresh interpreter from the project's folder; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=CLI.parent.parent
    )
    assert done.returncode == 0, done.stderr
    return done
