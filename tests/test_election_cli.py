"""`linzhang election`: open for a building, paper ballots by two tellers, status, close, verify."""

from __future__ import annotations

from models.election import Candidate, Circle, Election, Source, confirm_list, nominate
from models.store import Store
from tests.conftest import Cli
from tests.election_world import NOW, SECRETARY, TELLER_A, TELLER_B, ZONE, resident, world


async def test_a_paper_election_from_the_command_line(store: Store, cli: Cli) -> None:
    await world(store)
    opened = cli("election", "open", "--scope", "building:芙蓉花园/1栋")
    assert opened.exit_code == 0, opened.output
    assert "已开始第 1 号选举：芙蓉花园1栋1单元" in opened.output
    assert "已开始第 2 号选举：芙蓉花园1栋2单元" in opened.output
    async with store.write() as session:
        election = await session.get_one(Election, 1)
        for room in ("101", "102"):
            user = resident(1, room)
            await nominate(
                session, election, user, f"居民1{room}", Circle.VOLUNTEER, "", Source.SELF, user
            )
        await confirm_list(session, election, f"user:{SECRETARY}", NOW, ZONE)
    codes = []
    for room in ("101", "102", "201", "202"):
        issued = cli(
            "election", "issue", "1", "--household", f"芙蓉花园/1栋/1单元/{room}",
            "--box", "fixed" if room < "200" else "mobile", "--teller", str(TELLER_A),
        )  # fmt: skip
        assert issued.exit_code == 0, issued.output
        codes.append(issued.output.split("：")[1].strip())
    again = cli(
        "election", "issue", "1", "--household", "芙蓉花园/1栋/1单元/101",
        "--box", "fixed", "--teller", str(TELLER_A),
    )  # fmt: skip
    assert again.exit_code == 2 and "不能再发纸质选票" in again.output
    not_teller = cli("election", "enter", "1", codes[0], "1", "--teller", str(resident(1, "301")))
    assert not_teller.exit_code == 2 and "不是本小区的监票员" in not_teller.output
    for code, choice in zip(codes, ("1", "1", "2", "1"), strict=True):
        first = cli("election", "enter", "1", code, choice, "--teller", str(TELLER_A))
        assert "需另一位监票员再录" in first.output, first.output
        second = cli("election", "enter", "1", code, choice, "--teller", str(TELLER_B))
        assert "已计入" in second.output, second.output
    status = cli("election", "status", "--scope", "building:芙蓉花园/1栋")
    assert "第 1 号 芙蓉花园1栋1单元：投票中，名册 6 户，已投 4 户，结果：-" in status.output
    assert "第 2 号 芙蓉花园1栋2单元：提名中" in status.output
    closed = cli("election", "close", "1")
    assert "当选（实投 4 / 名册 6 户）" in closed.output, closed.output
    verified = cli("election", "verify", "1")
    assert verified.exit_code == 0 and "4 张选票重新计票与公布结果一致" in verified.output
    async with store.read() as session:
        winner = await session.get_one(Candidate, 1)
        result = (await session.get_one(Election, 1)).result
        assert result is not None and result["winner"] == str(winner.id)
