"""`linzhang deadlines`: an estate's own working-day limits for each step of a request."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from bot.cli.common import fail, language, open_store, run, say
from models.audit import audit
from models.deadline_rule import ANY, DEFAULTS, DeadlineRule, Step, set_rule
from models.request import Level, RequestKind
from models.scope import resolve_scope
from texts import t

app = typer.Typer(help=t("cli.deadlines.help", language()), no_args_is_help=True)

EstateOpt = Annotated[
    str, typer.Option("--estate", help=t("cli.deadlines.estate.help", language()))
]


def _choice(value: str | None, allowed: list[str], what: str) -> str:
    if value is None:
        return ANY
    if value not in allowed:
        fail("deadlines.bad_choice", what=what, value=value, allowed=", ".join(allowed))
    return value


@app.command("set", help=t("cli.deadlines.set.help", language()))
def set_command(
    estate: EstateOpt,
    step: Annotated[str, typer.Option("--step", help=t("cli.deadlines.step.help", language()))],
    days: Annotated[int, typer.Option("--days", help=t("cli.deadlines.days.help", language()))],
    kind: Annotated[
        str | None, typer.Option("--kind", help=t("cli.deadlines.kind.help", language()))
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", help=t("cli.deadlines.level.help", language()))
    ] = None,
) -> None:
    chosen = Step(_choice(step, [s.value for s in Step], "step"))
    kind_value = _choice(kind, [k.value for k in RequestKind], "kind")
    level_value = _choice(level, [lv.value for lv in Level], "level")

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            scope = await resolve_scope(session, f"estate:{estate}")
            await set_rule(session, scope.id, chosen, kind_value, level_value, days)
            audit(
                session,
                "cli",
                "deadline.set",
                "estate",
                scope.id,
                after={
                    "step": chosen.value,
                    "kind": kind_value,
                    "level": level_value,
                    "days": days,
                },
            )
        say(
            "cli.deadlines.set_done",
            estate=estate,
            step=chosen.value,
            kind=kind_value,
            level=level_value,
            days=days,
        )

    run(go())


@app.command("list", help=t("cli.deadlines.list.help", language()))
def list_command(estate: EstateOpt) -> None:
    async def go() -> None:
        async with open_store() as store, store.read() as session:
            scope = await resolve_scope(session, f"estate:{estate}")
            rules = list(
                await session.scalars(
                    select(DeadlineRule)
                    .where(DeadlineRule.estate_id == scope.id)
                    .order_by(DeadlineRule.step, DeadlineRule.kind, DeadlineRule.level)
                )
            )
        say("cli.deadlines.defaults")
        for (step, kind), days in DEFAULTS.items():
            typer.echo(f"  {step} {kind} * {days}")
        say("cli.deadlines.own", estate=estate)
        for rule in rules:
            typer.echo(f"  {rule.step} {rule.kind} {rule.level} {rule.days}")

    run(go())
