"""Roles from the command line: grant, revoke, list, with the scope rules enforced."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from models.audit import AuditEntry
from models.role import RoleAssignment
from models.store import Store
from tests.conftest import Cli
from tests.registry_factory import make_estate


async def _estates(store: Store) -> None:
    async with store.write() as session:
        await make_estate(session)
        # A second 芙蓉花园 in another community makes the bare name ambiguous.
        await make_estate(session, street="宋家桥街道", community="荷塘社区", estate="芙蓉花园")
        await make_estate(session, street="宋家桥街道", community="桂花社区", estate="桂花苑")


async def _count(store: Store, model: type) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_grant_list_revoke_secretary(store: Store, cli: Cli) -> None:
    await _estates(store)
    granted = cli(
        "roles",
        "grant",
        "secretary",
        "--user",
        "1001",
        "--scope",
        "estate:桂花苑",
        "--name",
        "王书记",
    )
    assert granted.exit_code == 0, granted.output
    assert "已任命" in granted.output and "小区党支部书记" in granted.output

    listed = cli("roles", "list", "--scope", "estate:桂花苑")
    assert "1001" in listed.output and "王书记" in listed.output

    revoked = cli("roles", "revoke", "secretary", "--user", "1001", "--scope", "estate:桂花苑")
    assert revoked.exit_code == 0, revoked.output
    assert "没有在任的角色" in cli("roles", "list").output

    async with store.read() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        row = await session.scalar(select(RoleAssignment))
    assert actions == ["role.grant", "role.revoke"]
    assert row is not None and row.revoked_at is not None and row.revoked_by == "cli"


async def test_ambiguous_estate_needs_its_community(store: Store, cli: Cli) -> None:
    await _estates(store)
    bare = cli("roles", "grant", "estate_admin", "--user", "7", "--scope", "estate:芙蓉花园")
    assert bare.exit_code == 2
    assert "重名" in bare.output and "芙蓉社区" in bare.output and "荷塘社区" in bare.output
    assert "Traceback" not in bare.output
    qualified = cli(
        "roles", "grant", "estate_admin", "--user", "7", "--scope", "estate:荷塘社区/芙蓉花园"
    )
    assert qualified.exit_code == 0, qualified.output
    assert await _count(store, RoleAssignment) == 1


async def test_neighbour_head_gets_a_three_year_term_on_a_group(store: Store, cli: Cli) -> None:
    await _estates(store)
    wrong = cli("roles", "grant", "neighbour_head", "--user", "8", "--scope", "estate:桂花苑")
    assert wrong.exit_code == 2 and "group:" in wrong.output
    done = cli(
        "roles",
        "grant",
        "neighbour_head",
        "--user",
        "8",
        "--scope",
        "group:桂花苑/1栋/1单元",
        "--from",
        "2026-12-01",
    )
    assert done.exit_code == 0, done.output
    async with store.read() as session:
        head = await session.scalar(select(RoleAssignment))
    assert head is not None
    assert (head.term_start, head.term_end) == (date(2026, 12, 1), date(2029, 12, 1))

    second = cli(
        "roles", "grant", "neighbour_head", "--user", "9", "--scope", "group:桂花苑/1栋/1单元"
    )
    assert second.exit_code == 2 and "请先撤销" in second.output
    assert await _count(store, RoleAssignment) == 1


async def test_force_member_needs_a_force(store: Store, cli: Cli) -> None:
    await _estates(store)
    missing = cli("roles", "grant", "force_member", "--user", "5", "--scope", "estate:桂花苑")
    assert missing.exit_code == 2 and "--force" in missing.output
    unknown = cli(
        "roles",
        "grant",
        "force_member",
        "--user",
        "5",
        "--scope",
        "estate:桂花苑",
        "--force",
        "police",
    )
    assert unknown.exit_code == 2 and "property" in unknown.output
    done = cli(
        "roles",
        "grant",
        "force_member",
        "--user",
        "5",
        "--scope",
        "estate:桂花苑",
        "--force",
        "property",
        language="en",
    )
    assert done.exit_code == 0 and "partner organisation" in done.output
    assert "物业公司" in cli("roles", "list").output


async def test_user_mistakes_exit_2_with_one_line(store: Store, cli: Cli) -> None:
    await _estates(store)
    for args in (
        ("roles", "grant", "resident", "--user", "1", "--scope", "estate:桂花苑"),
        ("roles", "grant", "mayor", "--user", "1", "--scope", "estate:桂花苑"),
        ("roles", "grant", "secretary", "--user", "1", "--scope", "estate:没有这个小区"),
        ("roles", "grant", "secretary", "--user", "1", "--scope", "planet:地球"),
        ("roles", "grant", "teller", "--user", "1", "--scope", "estate:桂花苑", "--until", "明年"),
        ("roles", "revoke", "secretary", "--user", "1", "--scope", "estate:桂花苑"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("错误："), result.output
    assert await _count(store, RoleAssignment) == 0
    assert await _count(store, AuditEntry) == 0


def test_database_behind_head_is_refused_with_the_fix(cli: Cli) -> None:
    result = cli("roles", "list")
    assert result.exit_code == 2
    assert "linzhang db upgrade" in result.output
    assert cli("db", "upgrade").exit_code == 0
    assert cli("roles", "list").exit_code == 0


def test_every_command_has_help(cli: Cli) -> None:
    for args in (
        (),
        ("db",),
        ("db", "upgrade"),
        ("roles",),
        ("roles", "grant"),
        ("roles", "revoke"),
        ("roles", "list"),
        ("import-roster",),
        ("cards",),
    ):
        result = cli(*args, "--help")
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output
