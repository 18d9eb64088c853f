"""Roster import: good files land, re-imports change nothing, bad rows are named."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from models.audit import AuditEntry
from models.registry import Branch, Estate, Household, HouseholdCare, NeighbourGroup
from models.store import Store
from tests.conftest import Cli

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "roster.csv"
HEADER = ["街道", "社区", "小区", "楼栋", "单元", "房号", "邻里单元", "户主", "电话", "关爱对象"]
TABLES = (
    "street",
    "community",
    "estate",
    "branch",
    "building",
    "neighbour_group",
    "household",
    "household_care",
)


def write_csv(
    path: Path, rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8"
) -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def base_rows() -> list[list[str]]:
    return [
        [
            "月塘街道",
            "芙蓉社区",
            "芙蓉花园",
            "1栋",
            "1单元",
            "101",
            "",
            "张建国",
            "13907331234",
            "独居老人",
        ],
        [
            "月塘街道",
            "芙蓉社区",
            "芙蓉花园",
            "1栋",
            "1单元",
            "102",
            "",
            "李秀英",
            "0731-22881234",
            "",
        ],
        [
            "月塘街道",
            "芙蓉社区",
            "芙蓉花园",
            "1栋",
            "2单元",
            "101",
            "",
            "王志强",
            "",
            "残疾人、低保",
        ],
        [
            "月塘街道",
            "芙蓉社区",
            "芙蓉花园",
            "2栋",
            "",
            "301",
            "二号楼一组",
            "",
            "+86 139 0733 5678",
            "",
        ],
    ]


async def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the registry tables, for comparing a database before and after."""
    async with store.read() as session:
        return {
            table: [
                tuple(row)
                for row in await session.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
            ]
            for table in TABLES
        }


async def count(store: Store, model: type) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def migrated(cli: Cli) -> Cli:
    assert cli("db", "upgrade").exit_code == 0
    return cli


async def test_sample_roster_imports(store: Store, migrated: Cli) -> None:
    result = migrated("import-roster", str(EXAMPLE), "--new-estates")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(EXAMPLE.open(encoding="utf-8")))[1:]
    assert f"新增 {len(rows)} 户" in result.output and "新建小区 3 个" in result.output
    assert await count(store, Household) == len(rows)
    async with store.read() as session:
        branches = set(await session.scalars(select(Branch.name)))
        groups = set(await session.scalars(select(NeighbourGroup.name)))
        phones = list(
            await session.scalars(select(Household.phone).where(Household.phone.is_not(None)))
        )
    assert branches == {"芙蓉花园党支部", "桂花苑党支部", "荷塘人家党支部"}
    # Units become groups unless the roster names one.
    assert {"1单元", "2单元", "A栋一组", "A栋二组"} <= groups
    assert phones and all(p.startswith("+86") for p in phones)
    assert "+8673122881234" in phones


async def test_good_csv_lands_in_the_registry(store: Store, migrated: Cli, tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "roster.csv", base_rows())
    result = migrated("import-roster", str(roster), "--new-estates")
    assert result.exit_code == 0, result.output
    async with store.read() as session:
        households = {(h.unit, h.room): h for h in await session.scalars(select(Household))}
        care = {
            (hid, kind)
            for hid, kind in await session.execute(
                select(HouseholdCare.household_id, HouseholdCare.kind)
            )
        }
        group_of = dict(
            (await session.execute(select(NeighbourGroup.id, NeighbourGroup.name))).all()
        )
    assert households[("1单元", "101")].phone == "+8613907331234"
    assert households[("", "301")].phone == "+8613907335678"
    assert group_of[households[("", "301")].neighbour_group_id] == "二号楼一组"
    assert group_of[households[("1单元", "102")].neighbour_group_id] == "1单元"
    wang = households[("2单元", "101")].id
    assert {
        (wang, "disabled"),
        (wang, "hardship"),
        (households[("1单元", "101")].id, "elderly_alone"),
    } == care
    async with store.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.import"))
    assert entry is not None and entry.after is not None and entry.after["added"] == 4


async def test_xlsx_with_english_headers_and_numbers(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "Street",
            "Community",
            "Estate",
            "Building",
            "Unit",
            "Room",
            "Householder",
            "Phone",
            "Care",
        ]
    )
    sheet.append(
        [
            "月塘街道",
            "芙蓉社区",
            "芙蓉花园",
            "1栋",
            "1单元",
            101,
            "张建国",
            13907331234,
            "elderly_alone",
        ]
    )
    sheet.append(["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", 102.0, None, None, None])
    sheet.append([None] * 9)  # trailing blank rows are common in spreadsheets
    book.save(tmp_path / "roster.xlsx")
    result = migrated(
        "import-roster", str(tmp_path / "roster.xlsx"), "--new-estates", language="en"
    )
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output
    async with store.read() as session:
        rooms = dict((await session.execute(select(Household.room, Household.phone))).all())
    assert rooms == {"101": "+8613907331234", "102": None}


async def test_gb18030_csv(store: Store, migrated: Cli, tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "excel.csv", base_rows(), encoding="gb18030")
    result = migrated("import-roster", str(roster), "--new-estates")
    assert result.exit_code == 0, result.output
    async with store.read() as session:
        names = set(await session.scalars(select(Estate.name)))
    assert names == {"芙蓉花园"}


async def test_same_file_twice_changes_nothing(store: Store, migrated: Cli, tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "roster.csv", base_rows())
    assert migrated("import-roster", str(roster), "--new-estates").exit_code == 0
    before = await dump(store)
    audits = await count(store, AuditEntry)
    again = migrated("import-roster", str(roster))
    assert again.exit_code == 0, again.output
    assert "新增 0 户，修改 0 户，移除 0 户，4 户不变" in again.output
    assert await dump(store) == before
    assert await count(store, AuditEntry) == audits


async def test_changed_file_updates_in_place(store: Store, migrated: Cli, tmp_path: Path) -> None:
    assert (
        migrated(
            "import-roster", str(write_csv(tmp_path / "a.csv", base_rows())), "--new-estates"
        ).exit_code
        == 0
    )
    async with store.read() as session:
        ids = {(h.unit, h.room): h.id for h in await session.scalars(select(Household))}
    rows = base_rows()
    rows[0][8] = "13800001111"  # phone changed
    rows[0][9] = ""  # care flag dropped
    del rows[1]  # 1单元/102 moved out
    rows.append(["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "103", "", "赵敏", "", ""])
    changed = write_csv(tmp_path / "b.csv", rows)

    before = await dump(store)
    dry = migrated("import-roster", str(changed), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+ 芙蓉花园/1栋/1单元/103" in dry.output
    assert "~ 芙蓉花园/1栋/1单元/101" in dry.output and "电话" in dry.output
    assert "- 芙蓉花园/1栋/1单元/102" in dry.output
    assert "13800001111" not in dry.output  # phone numbers are shown only in part
    assert "试运行" in dry.output
    assert await dump(store) == before

    real = migrated("import-roster", str(changed))
    assert real.exit_code == 0, real.output
    assert "新增 1 户，修改 1 户，移除 1 户，2 户不变" in real.output
    async with store.read() as session:
        now = {(h.unit, h.room): h for h in await session.scalars(select(Household))}
        care = list(
            await session.scalars(
                select(HouseholdCare.kind).where(
                    HouseholdCare.household_id == ids[("1单元", "101")]
                )
            )
        )
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert now[("1单元", "101")].id == ids[("1单元", "101")]
    assert now[("1单元", "101")].phone == "+8613800001111"
    assert care == []
    assert now[("1单元", "102")].removed_at is not None
    assert now[("1单元", "103")].removed_at is None
    assert actions.count("household.update") == 1 and actions.count("household.remove") == 1

    # The household that left comes back: the same row again, no longer removed.
    back = migrated("import-roster", str(write_csv(tmp_path / "c.csv", base_rows())))
    assert back.exit_code == 0, back.output
    async with store.read() as session:
        returned = await session.get_one(Household, ids[("1单元", "102")])
    assert returned.removed_at is None


BAD_CASES = [
    pytest.param(
        ["街道", "社区", "小区", "楼栋", "单元", "户主"],
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "张三"]],
        1,
        "缺少必填列「房号/room」",
        id="missing-column",
    ),
    pytest.param(
        [*HEADER, "备注"],
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "", "", "x"]],
        1,
        "不认识的列名「备注」",
        id="unknown-column",
    ),
    pytest.param(
        HEADER,
        [
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "", ""],
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "", "", "", "", ""],
        ],
        3,
        "「房号/room」不能为空",
        id="missing-value",
    ),
    pytest.param(
        HEADER,
        [
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "", ""],
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "102", "", "", "", ""],
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "１０１", "", "", "", ""],
        ],
        4,
        "芙蓉花园/1栋/1单元/101 重复，第 2 行已有这一户",
        id="duplicate-room",
    ),
    pytest.param(
        HEADER,
        [
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "", ""],
            ["月塘街道", "芙蓉社区", "芙容花园", "1栋", "1单元", "101", "", "", "", ""],
        ],
        3,
        "小区「月塘街道/芙蓉社区/芙容花园」尚未登记",
        id="unknown-estate",
    ),
    pytest.param(
        HEADER,
        [
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "", ""],
            ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "102", "", "", "1390733", ""],
        ],
        3,
        "电话「1390733」不是有效的手机或固话号码",
        id="malformed-phone",
    ),
    pytest.param(
        HEADER,
        [
            [
                "月塘街道",
                "芙蓉社区",
                "芙蓉花园",
                "1栋",
                "1单元",
                "101",
                "",
                "",
                "",
                "独居老人、外星人",
            ]
        ],
        2,
        "关爱对象「外星人」无法识别",
        id="unknown-care",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "1" * 40, "", "", "", ""]],
        2,
        "「房号/room」太长",
        id="too-long",
    ),
]


@pytest.mark.parametrize(("header", "rows", "line", "reason"), BAD_CASES)
async def test_bad_row_is_named_and_nothing_written(
    store: Store,
    migrated: Cli,
    tmp_path: Path,
    header: list[str],
    rows: list[list[str]],
    line: int,
    reason: str,
) -> None:
    # The estate exists, so only the bad row itself is wrong.
    good = write_csv(tmp_path / "good.csv", [base_rows()[0]])
    assert migrated("import-roster", str(good), "--new-estates").exit_code == 0
    before = await dump(store)
    audits = await count(store, AuditEntry)

    bad = write_csv(tmp_path / "bad.csv", rows, header=header)
    result = migrated("import-roster", str(bad))
    assert result.exit_code == 2, result.output
    assert f"第 {line} 行：{reason}" in result.output
    assert "未写入任何数据" in result.output
    assert "Traceback" not in result.output
    assert await dump(store) == before
    assert await count(store, AuditEntry) == audits


async def test_every_bad_row_is_reported_at_once(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    rows = base_rows()
    rows[1][8] = "12345"
    rows[3][9] = "神仙"
    result = migrated("import-roster", str(write_csv(tmp_path / "r.csv", rows)), "--new-estates")
    assert result.exit_code == 2
    assert "第 3 行" in result.output and "第 5 行" in result.output
    assert await count(store, Household) == 0


async def test_multiline_cell_keeps_line_numbers(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    rows = base_rows()
    rows[0][7] = "张\n建国"  # a quoted cell spanning two lines
    rows[2][8] = "000"
    result = migrated("import-roster", str(write_csv(tmp_path / "r.csv", rows)), "--new-estates")
    assert result.exit_code == 2
    # Header line 1, row one on lines 2–3, row two on 4, the bad row three on 5.
    assert "第 5 行：电话「000」" in result.output


def test_unsupported_or_missing_file(migrated: Cli, tmp_path: Path) -> None:
    (tmp_path / "roster.pdf").write_bytes(b"%PDF-1.4")
    for path, words in (
        (tmp_path / "roster.pdf", "不支持的文件类型"),
        (tmp_path / "none.csv", "找不到文件"),
    ):
        result = migrated("import-roster", str(path))
        assert result.exit_code == 2
        assert words in result.output and result.output.count("\n") == 1
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    result = migrated("import-roster", str(tmp_path / "broken.xlsx"))
    assert result.exit_code == 2 and "不是有效的 XLSX" in result.output
