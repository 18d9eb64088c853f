"""`linzhang import-roster`: bring a community office's roster into the registry."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.cli.common import EXIT_USER, fail, language, open_store, run, say
from models.problem import Problem
from models.roster import ImportPlan, apply_import, plan_import
from models.roster_file import RosterError, read_roster
from texts import t

ACTOR = "cli"
# Enough lines to see what is wrong; the rest is a count.
SHOWN = 50
# Below this many bytes a file reads in a blink and a progress bar would only flicker.
LARGE_FILE = 256 * 1024


def register(app: typer.Typer) -> None:
    """Add `import-roster` to the command line."""
    app.command("import-roster", help=t("cli.roster.help", language()))(import_roster)


def import_roster(
    file: Annotated[Path, typer.Argument(help=t("cli.roster.file.help", language()))],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=t("cli.roster.dry_run.help", language()))
    ] = False,
    new_estates: Annotated[
        bool, typer.Option("--new-estates", help=t("cli.roster.new_estates.help", language()))
    ] = False,
) -> None:
    if not file.is_file():
        fail("roster.no_file", file=str(file))
    show_progress = sys.stderr.isatty() and file.stat().st_size >= LARGE_FILE
    with _progress(show_progress) as progress:
        task = progress.add_task(t("cli.roster.reading", language()), total=None)
        try:
            rows, errors = read_roster(file, lambda n: progress.update(task, completed=n))
        except Problem as problem:
            fail(problem.key, **problem.params)
        except OSError as error:
            fail("cli.os_error", reason=str(error))
        if errors:
            _report(errors, errors.total)
        digest = hashlib.sha256(file.read_bytes()).hexdigest()

        async def go() -> ImportPlan:
            async with open_store() as store, store.write() as session:
                progress.update(task, description=t("cli.roster.checking", language()))
                plan = await plan_import(session, rows, new_estates)
                if plan.errors or dry_run:
                    # Leaving by an exception rolls the transaction back: nothing is written.
                    raise _Done(plan)
                progress.update(task, description=t("cli.roster.writing", language()))
                await apply_import(
                    session, plan, ACTOR, {"file": file.name, "sha256": digest, "rows": len(rows)}
                )
                return plan

        async def guarded() -> ImportPlan:
            try:
                return await go()
            except _Done as done:
                return done.plan

        plan = run(guarded())
    if plan.errors:
        _report(plan.errors, len(plan.errors))
    _summary(plan, dry_run)


class _Done(Exception):
    def __init__(self, plan: ImportPlan) -> None:
        super().__init__("done")
        self.plan = plan


def _progress(visible: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not visible,
    )


def _report(errors: list[RosterError], total: int) -> None:
    """Print the first bad rows with line and reason, count the rest, then stop unwritten."""
    lang = language()
    shown = sorted(errors, key=lambda e: e.line)[:SHOWN]
    for error in shown:
        reason = t(error.key, lang, **error.params)
        typer.echo(t("cli.roster.line", lang, line=error.line, reason=reason), err=True)
    if total > len(shown):
        typer.echo(t("cli.roster.more", lang, count=total - len(shown)), err=True)
    typer.echo(t("cli.roster.nothing_written", lang, count=total), err=True)
    raise typer.Exit(EXIT_USER)


def _summary(plan: ImportPlan, dry_run: bool) -> None:
    lang = language()
    lines: list[str] = [f"+ {'/'.join(key)}" for key in plan.new_estates]
    lines += [f"+ {row.label}" for row in plan.added]
    for change in plan.changed:
        details = "，".join(
            t(
                "cli.roster.field",
                lang,
                field=t(f"roster.field.{name}", lang),
                old=_shown(name, old),
                new=_shown(name, new),
            )
            for name, (old, new) in change.fields.items()
        )
        lines.append(f"~ {change.stored.label}：{details}")
    lines += [f"- {household.label}" for household in plan.removed]
    for line in lines[:SHOWN]:
        typer.echo(line)
    if len(lines) > SHOWN:
        typer.echo(t("cli.roster.more", lang, count=len(lines) - SHOWN))
    say("cli.roster.dry_run" if dry_run else "cli.roster.done", **plan.counts)


def _shown(name: str, value: Any) -> str:
    """Show a value to the operator; phone numbers only in part."""
    if value is None or value == []:
        return "—"
    if name == "phone":
        text = str(value)
        return text[:-8] + "****" + text[-4:] if len(text) > 8 else "****"
    if name == "care":
        return "、".join(t(f"care.{kind}", language()) for kind in value)
    if name == "removed":
        return t("cli.roster.removed_yes" if value else "cli.roster.removed_no", language())
    return str(value)
