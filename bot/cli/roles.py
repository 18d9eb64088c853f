"""`linzhang roles`: appoint and remove people before anyone has used the bot."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from sqlalchemy import select

from bot.cli.common import fail, language, load_settings, open_store, run, say
from models.person import Person
from models.role import Force, Grant, Role, RoleAssignment, grant_role, revoke_role
from models.scope import ScopeKind, describe_scope, resolve_scope
from texts import t

ACTOR = "cli"

app = typer.Typer(help=t("cli.roles.help", language()), no_args_is_help=True)

RoleArg = Annotated[str, typer.Argument(help=t("cli.roles.role.help", language()))]
UserOpt = Annotated[int, typer.Option("--user", help=t("cli.roles.user.help", language()))]
ScopeOpt = Annotated[str, typer.Option("--scope", help=t("cli.roles.scope.help", language()))]


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        fail("roles.unknown_role", role=text, roles=", ".join(r.value for r in Role))


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail("cli.bad_date", value=text)


@app.command("grant", help=t("cli.roles.grant.help", language()))
def grant_command(
    role: RoleArg,
    user: UserOpt,
    scope: ScopeOpt,
    force: Annotated[
        str | None, typer.Option("--force", help=t("cli.roles.force.help", language()))
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help=t("cli.roles.name.help", language()))
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help=t("cli.roles.from.help", language()))
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help=t("cli.roles.until.help", language()))
    ] = None,
) -> None:
    chosen = _role(role)
    force_kind: Force | None = None
    if force is not None:
        try:
            force_kind = Force(force)
        except ValueError:
            fail("roles.unknown_force", force=force, forces=", ".join(f.value for f in Force))
    today = datetime.now(load_settings().zone).date()
    term_start, term_end = _day(start), _day(until)

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            resolved = await resolve_scope(session, scope)
            assignment = await grant_role(
                session,
                Grant(
                    user_id=user,
                    role=chosen,
                    scope=resolved,
                    force=force_kind,
                    term_start=term_start,
                    term_end=term_end,
                    display_name=name,
                ),
                ACTOR,
                today,
            )
            term = (
                f"{assignment.term_start} – {assignment.term_end}" if assignment.term_end else "-"
            )
        say("cli.roles.granted", user=user, role=_role_label(chosen), scope=resolved, term=term)

    run(go())


@app.command("revoke", help=t("cli.roles.revoke.help", language()))
def revoke_command(role: RoleArg, user: UserOpt, scope: ScopeOpt) -> None:
    chosen = _role(role)

    async def go() -> None:
        async with open_store() as store, store.write() as session:
            resolved = await resolve_scope(session, scope)
            await revoke_role(session, user, chosen, resolved, ACTOR)
        say("cli.roles.revoked", user=user, role=_role_label(chosen), scope=resolved)

    run(go())


@app.command("list", help=t("cli.roles.list.help", language()))
def list_command(
    scope: Annotated[
        str | None, typer.Option("--scope", help=t("cli.roles.scope.help", language()))
    ] = None,
    user: Annotated[
        int | None, typer.Option("--user", help=t("cli.roles.user.help", language()))
    ] = None,
) -> None:
    async def go() -> None:
        async with open_store() as store, store.read() as session:
            query = (
                select(RoleAssignment, Person)
                .join(Person)
                .where(RoleAssignment.revoked_at.is_(None))
                .order_by(RoleAssignment.scope_kind, RoleAssignment.scope_id, RoleAssignment.role)
            )
            if scope is not None:
                resolved = await resolve_scope(session, scope)
                query = query.where(
                    RoleAssignment.scope_kind == resolved.kind.value,
                    RoleAssignment.scope_id == resolved.id,
                )
            if user is not None:
                query = query.where(RoleAssignment.user_id == user)
            rows = (await session.execute(query)).all()
            if not rows:
                say("cli.roles.none")
                return
            for assignment, person in rows:
                label = await describe_scope(
                    session, ScopeKind(assignment.scope_kind), assignment.scope_id
                )
                role_text = _role_label(Role(assignment.role))
                if assignment.force:
                    role_text += f"（{t('force.' + assignment.force, language())}）"
                say(
                    "cli.roles.row",
                    user=assignment.user_id,
                    name=person.display_name or "-",
                    role=role_text,
                    scope=str(label),
                    term=f"{assignment.term_start} – {assignment.term_end}"
                    if assignment.term_end
                    else "-",
                )

    run(go())


def _role_label(role: Role) -> str:
    return t("role." + role.value, language())
