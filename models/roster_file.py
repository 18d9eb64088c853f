"""Read a roster file (CSV or XLSX) into checked rows, each bad row named by its line."""

from __future__ import annotations

import csv
import io
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from models.care import parse_care
from models.problem import Problem

# Header words community offices use, in Chinese and English, mapped onto our field names.
HEADERS: dict[str, str] = {
    "街道": "street",
    "镇": "street",
    "街道/镇": "street",
    "社区": "community",
    "村": "community",
    "社区/村": "community",
    "小区": "estate",
    "楼栋": "building",
    "楼号": "building",
    "单元": "unit",
    "房号": "room",
    "门牌号": "room",
    "邻里单元": "neighbour_group",
    "户主": "householder",
    "户主姓名": "householder",
    "电话": "phone",
    "联系电话": "phone",
    "手机": "phone",
    "关爱对象": "care",
    "street": "street",
    "community": "community",
    "estate": "estate",
    "building": "building",
    "unit": "unit",
    "room": "room",
    "neighbour_group": "neighbour_group",
    "neighbor_group": "neighbour_group",
    "householder": "householder",
    "phone": "phone",
    "care": "care",
}
# How a column is named back to the operator: both header words a file may use.
COLUMN_WORDS = {
    "street": "街道/street",
    "community": "社区/community",
    "estate": "小区/estate",
    "building": "楼栋/building",
    "unit": "单元/unit",
    "room": "房号/room",
    "neighbour_group": "邻里单元/neighbour_group",
    "householder": "户主/householder",
    "phone": "电话/phone",
    "care": "关爱对象/care",
}
REQUIRED = ("street", "community", "estate", "building", "room")
# Column widths in models/registry.py; a longer value would be cut or refused by the database.
LIMITS = {
    "street": 64,
    "community": 64,
    "estate": 64,
    "building": 64,
    "unit": 32,
    "room": 32,
    "neighbour_group": 64,
    "householder": 64,
}
# Fields where full-width digits and letters (１０１) mean the same as ASCII ones.
NORMALISED = ("building", "unit", "room", "phone", "neighbour_group")

Key = tuple[str, str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int
    street: str
    community: str
    estate: str
    building: str
    unit: str
    room: str
    neighbour_group: str | None
    householder: str | None
    phone: str | None
    care: frozenset[str]

    @property
    def key(self) -> Key:
        return (self.street, self.community, self.estate, self.building, self.unit, self.room)

    @property
    def estate_key(self) -> tuple[str, str, str]:
        return (self.street, self.community, self.estate)

    @property
    def group_name(self) -> str:
        """Name the row's neighbour group: the given one, else the unit, else the building."""
        return self.neighbour_group or self.unit or self.building

    @property
    def label(self) -> str:
        return household_label(self.estate, self.building, self.unit, self.room)


@dataclass(frozen=True, slots=True)
class RosterError:
    line: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)


def household_label(estate: str, building: str, unit: str, room: str) -> str:
    """Name a household the way scopes do: 芙蓉花园/1栋/1单元/101."""
    return "/".join(part for part in (estate, building, unit, room) if part)


def read_roster(
    path: Path, progress: Callable[[int], None] | None = None
) -> tuple[list[RosterRow], list[RosterError]]:
    """Parse and check every row of a roster file; return the good rows and all errors."""
    records = _records(path)
    errors: list[RosterError] = []
    try:
        header_line, header = next(records)
    except StopIteration:
        return [], [RosterError(1, "roster.empty")]
    columns = _columns(header_line, header, errors)
    if errors:
        return [], errors
    rows: list[RosterRow] = []
    first_line: dict[Key, int] = {}
    for count, (line, cells) in enumerate(records, start=1):
        if progress is not None and count % 1000 == 0:
            progress(count)
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets end in blank rows
        row = _row(line, cells, columns, errors)
        if row is None:
            continue
        seen = first_line.setdefault(row.key, line)
        if seen != line:
            errors.append(
                RosterError(line, "roster.duplicate_room", {"room": row.label, "first": seen})
            )
            continue
        rows.append(row)
    return rows, errors


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _csv_records(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_records(path)
    raise Problem("roster.bad_type", file=path.name)


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel in China saves "CSV" in the local code page.
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise Problem("roster.bad_encoding", file=path.name) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for cells in reader:
        # A quoted cell may span lines; report the line the row starts on.
        yield start, cells
        start = reader.line_num + 1


def _xlsx_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        raise Problem("roster.bad_xlsx", file=path.name) from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 101.0 is room 101
    return str(value)


def _columns(line: int, header: list[str], errors: list[RosterError]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        word = raw.strip().lstrip("\ufeff")
        if not word:
            continue
        name = HEADERS.get(word) or HEADERS.get(word.lower())
        if name is None:
            errors.append(RosterError(line, "roster.unknown_column", {"column": word}))
        elif name in columns:
            errors.append(RosterError(line, "roster.repeated_column", {"column": word}))
        else:
            columns[name] = index
    for name in REQUIRED:
        if name not in columns:
            errors.append(
                RosterError(line, "roster.missing_column", {"column": COLUMN_WORDS[name]})
            )
    return columns


def _row(
    line: int, cells: list[str], columns: dict[str, int], errors: list[RosterError]
) -> RosterRow | None:
    width = max(columns.values()) + 1
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        errors.append(RosterError(line, "roster.extra_cells"))
        return None
    values: dict[str, str] = {}
    bad = False
    for name, index in columns.items():
        value = cells[index].strip() if index < len(cells) else ""
        if name in NORMALISED:
            value = unicodedata.normalize("NFKC", value).strip()
        if name in REQUIRED and not value:
            errors.append(RosterError(line, "roster.missing_value", {"column": COLUMN_WORDS[name]}))
            bad = True
        limit = LIMITS.get(name)
        if limit is not None and len(value) > limit:
            errors.append(
                RosterError(line, "roster.too_long", {"column": COLUMN_WORDS[name], "limit": limit})
            )
            bad = True
        values[name] = value
    phone = _phone(values.get("phone", ""))
    if phone is None:
        errors.append(RosterError(line, "roster.bad_phone", {"phone": values["phone"]}))
        bad = True
    kinds, unknown = parse_care(values.get("care", ""))
    if unknown:
        errors.append(RosterError(line, "roster.unknown_care", {"words": "、".join(unknown)}))
        bad = True
    if bad:
        return None
    # Names repeat on every row of an estate; one shared string each keeps a district's
    # roster small in memory.
    return RosterRow(
        line=line,
        street=sys.intern(values["street"]),
        community=sys.intern(values["community"]),
        estate=sys.intern(values["estate"]),
        building=sys.intern(values["building"]),
        unit=sys.intern(values.get("unit", "")),
        room=sys.intern(values["room"]),
        neighbour_group=sys.intern(values["neighbour_group"])
        if values.get("neighbour_group")
        else None,
        householder=values.get("householder") or None,
        phone=phone or None,
        care=_care_set(frozenset(kind.value for kind in kinds)),
    )


def _phone(text: str) -> str | None:
    """Return the number in E.164, "" for none, or None when it is not a Chinese number."""
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_CARE_SETS: dict[frozenset[str], frozenset[str]] = {}


def _care_set(kinds: frozenset[str]) -> frozenset[str]:
    """Share one set object per combination of care kinds."""
    return _CARE_SETS.setdefault(kinds, kinds)
