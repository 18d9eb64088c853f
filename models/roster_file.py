"""Read a roster file (CSV or XLSX) into checked rows, each bad row named by its line."""

from __future__ import annotations

import codecs
import csv
import io
import posixpath
import re
import sys
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from xml.parsers import expat

from models.address import address
from models.care import parse_care
from models.phone import e164
from models.problem import Problem
from models.text_safety import formula_like, has_control_chars

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

# What a roster file may hold. The whole district has 86,908 households; a file past these is
# not a roster, and reading it would only tie up the server.
MB = 1024 * 1024
MAX_FILE_BYTES = 50 * MB
MAX_ROWS = 200_000
MAX_CELL_CHARS = 1_000
# Errors kept to show; the rest are only counted.
MAX_ERRORS = 100
# An XLSX is a zip of XML, and what it unpacks to is what costs time and memory: a small file
# can unpack to gigabytes. The shared-strings table is held in memory whole, so it has its own
# limit, and so has every other part read (workbook, relationships, styles).
MAX_UNPACKED_BYTES = 256 * MB
MAX_STRINGS_BYTES = 64 * MB
MAX_PART_BYTES = 16 * MB
# Excel's own last column, XFD.
MAX_COLUMNS = 16_384

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


class RosterErrors(list[RosterError]):
    """The first MAX_ERRORS errors of a file, and how many it has in all."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def add(self, error: RosterError) -> None:
        """Count an error, and keep it while there is room."""
        self.total += 1
        if len(self) < MAX_ERRORS:
            self.append(error)


class _Unreadable(Exception):
    """A CSV cell so long that the csv module gave up at this line."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def household_label(estate: str, building: str, unit: str, room: str) -> str:
    """Name a household as people read it: 芙蓉花园1栋1单元101室."""
    return address(estate, building, unit, room)


def read_roster(
    path: Path, progress: Callable[[int], None] | None = None
) -> tuple[list[RosterRow], RosterErrors]:
    """Parse and check every row of a roster file; return the good rows and its errors."""
    records = _records(path)
    rows: list[RosterRow] = []
    errors = RosterErrors()
    try:
        _read(records, rows, errors, progress)
    except _Unreadable as stop:
        errors.add(RosterError(stop.line, "roster.cell_too_big", {"limit": MAX_CELL_CHARS}))
    return rows, errors


def _read(
    records: Iterator[tuple[int, list[str]]],
    rows: list[RosterRow],
    errors: RosterErrors,
    progress: Callable[[int], None] | None,
) -> None:
    """Check the header and then each row, adding good rows to `rows` and the rest to `errors`."""
    try:
        header_line, header = next(records)
    except StopIteration:
        errors.add(RosterError(1, "roster.empty"))
        return
    columns = _columns(header_line, header, errors)
    if errors.total:
        return
    first_line: dict[Key, int] = {}
    for count, (line, cells) in enumerate(records, start=1):
        if count > MAX_ROWS:
            # Blank rows count too: otherwise a file of nothing but line breaks reads forever.
            raise Problem("roster.too_many_rows", limit=MAX_ROWS)
        if progress is not None and count % 1000 == 0:
            progress(count)
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets end in blank rows
        if any(len(cell) > MAX_CELL_CHARS for cell in cells):
            errors.add(RosterError(line, "roster.cell_too_big", {"limit": MAX_CELL_CHARS}))
            continue
        row = _row(line, cells, columns, errors)
        if row is None:
            continue
        seen = first_line.setdefault(row.key, line)
        if seen != line:
            errors.add(
                RosterError(line, "roster.duplicate_room", {"room": row.label, "first": seen})
            )
            continue
        rows.append(row)


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        reader = _csv_records
    elif suffix in (".xlsx", ".xlsm"):
        reader = _xlsx_records
    else:
        raise Problem("roster.bad_type", file=path.name)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise Problem("roster.too_big", file=path.name, limit=MAX_FILE_BYTES // MB)
    return reader(path)


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    data = path.read_bytes()
    encoding = _encoding(data)
    if encoding is None:
        raise Problem("roster.bad_encoding", file=path.name)
    # Decoded as it is read: the whole text at once would take up to four times the file.
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""))
    start = 1
    try:
        for cells in reader:
            # A quoted cell may span lines; report the line the row starts on.
            yield start, cells
            start = reader.line_num + 1
    except csv.Error:
        # The csv module stops at a cell of 128 Ki characters, far past MAX_CELL_CHARS; past
        # such a cell it cannot tell where rows begin, so reading stops there.
        raise _Unreadable(start) from None


def _encoding(data: bytes) -> str | None:
    """Return the encoding the bytes are in: UTF-8, else GB18030, else None."""
    view = memoryview(data)
    # Excel in China saves "CSV" in the local code page.
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(view), _CHUNK):
                decoder.decode(view[start : start + _CHUNK])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


# Everything a broken or hostile XLSX makes the standard library raise while we read it.
_BAD_XLSX = (
    zipfile.BadZipFile,
    zlib.error,
    expat.ExpatError,
    KeyError,
    ValueError,
    IndexError,
    EOFError,
    NotImplementedError,  # a compression method zipfile lacks
    RuntimeError,  # an encrypted zip
)
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Book:
    """What reading a workbook's first sheet needs: where it is and what its cells refer to."""

    sheet: str
    strings: list[str]
    dates: dict[int, bool]  # style index → whether it shows a duration rather than a date
    date1904: bool


def _xlsx_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    # Not openpyxl: opening a sheet that does not declare its size, it parses the whole sheet
    # and keeps an element per row (a 99 KB file took 10 s and 960 MB before the first row),
    # and while reading it keeps whatever else the sheet data holds.
    try:
        with zipfile.ZipFile(path) as archive:
            book = _book(archive, path.name)
            sheet = _Sheet(book)
            for _ in _parse(archive, book.sheet, sheet):
                yield from sheet.rows
                sheet.rows.clear()
    except _BAD_XLSX:
        raise Problem("roster.bad_xlsx", file=path.name) from None


def _book(archive: zipfile.ZipFile, file: str) -> _Book:
    """Find the first worksheet and read its shared strings and date styles, within limits."""
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise Problem("roster.xlsx_too_big", file=file, limit=MAX_UNPACKED_BYTES // MB)
    package = _relationships(archive, "_rels/.rels", "", file)
    workbook = package.target("officeDocument") or "xl/workbook.xml"
    parts = _relationships(archive, _rels_path(workbook), workbook, file)
    first = _read_part(archive, workbook, MAX_PART_BYTES, file, _Workbook(parts))
    if first.sheet is None:
        raise ValueError("no worksheet")
    strings = parts.target("sharedStrings")
    styles = parts.target("styles")
    return _Book(
        sheet=first.sheet,
        strings=_read_part(archive, strings, MAX_STRINGS_BYTES, file, _Strings()).strings
        if strings
        else [],
        dates=_read_part(archive, styles, MAX_PART_BYTES, file, _Styles()).dates()
        if styles
        else {},
        date1904=first.date1904,
    )


class _Handler:
    """Receive one XML part from expat: element starts and ends, and the text between."""

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


H = TypeVar("H", bound=_Handler)


def _parse(archive: zipfile.ZipFile, name: str, handler: _Handler) -> Iterator[None]:
    """Feed one XML part to a handler a piece at a time, pausing after each piece."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    # No spreadsheet declares a DTD; one that does is after entity tricks.
    parser.StartDoctypeDeclHandler = _refuse_doctype
    with archive.open(name) as source:
        while chunk := source.read(_CHUNK):
            parser.Parse(chunk, False)
            yield
        parser.Parse(b"", True)


def _read_part(archive: zipfile.ZipFile, name: str, limit: int, file: str, handler: H) -> H:
    """Read a whole part that is kept in memory or parsed at once, refusing one past its limit."""
    if archive.getinfo(name).file_size > limit:
        raise Problem("roster.xlsx_part_too_big", file=file, part=name, limit=limit // MB)
    for _ in _parse(archive, name, handler):
        pass
    return handler


def _refuse_doctype(*_: object) -> None:
    raise ValueError("a DTD in a spreadsheet")


def _local(tag: str) -> str:
    """Drop a namespace prefix: x:row is row."""
    return tag.rpartition(":")[2] if ":" in tag else tag


class _Relationships(_Handler):
    """Each relationship of a part: its type (worksheet, styles…) and the part it points to."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: dict[str, tuple[str, str]] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) == "Relationship" and attrs.get("TargetMode") != "External":
            kind = attrs.get("Type", "").rpartition("/")[2]
            self.found[attrs.get("Id", "")] = (kind, _resolve(self.source, attrs.get("Target", "")))

    def target(self, kind: str) -> str | None:
        return next((target for found, target in self.found.values() if found == kind), None)


def _relationships(archive: zipfile.ZipFile, name: str, source: str, file: str) -> _Relationships:
    try:
        return _read_part(archive, name, MAX_PART_BYTES, file, _Relationships(source))
    except KeyError:
        return _Relationships(source)  # a part without relationships has no such file


def _rels_path(part: str) -> str:
    folder, _, name = part.rpartition("/")
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve(source: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


class _Workbook(_Handler):
    """The first worksheet (not a chart sheet) of a workbook, and its date system."""

    def __init__(self, parts: _Relationships) -> None:
        self.parts = parts
        self.sheet: str | None = None
        self.date1904 = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = _local(tag)
        if tag == "workbookPr":
            self.date1904 = attrs.get("date1904", "").lower() in ("1", "true")
        elif tag == "sheet" and self.sheet is None:
            # The relationship id is r:id, whatever the prefix of its namespace.
            rid = next((value for key, value in attrs.items() if key.endswith(":id")), "")
            kind, target = self.parts.found.get(rid, ("", ""))
            if kind == "worksheet":
                self.sheet = target


class _Text:
    """Gather the text of a cell up to one character past MAX_CELL_CHARS; drop the rest."""

    __slots__ = ("muted", "on", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.on = False
        self.muted = 0  # inside phonetic hints (rPh), which are not the cell's text

    def reset(self) -> None:
        self.parts = []
        self.size = 0

    def add(self, piece: str) -> None:
        if self.on and not self.muted and self.size <= MAX_CELL_CHARS:
            self.parts.append(piece)
            self.size += len(piece)

    def value(self) -> str:
        return "".join(self.parts)[: MAX_CELL_CHARS + 1]

    def start(self, tag: str) -> None:
        """Follow an element that may hold text: t and v do, rPh hides it."""
        if tag in ("t", "v"):
            self.on = True
        elif tag == "rPh":
            self.muted += 1

    def end(self, tag: str) -> None:
        if tag in ("t", "v"):
            self.on = False
        elif tag == "rPh":
            self.muted -= 1


class _Strings(_Handler):
    """The shared-strings table: plain and rich text, without phonetic hints."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.gather = _Text()

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = _local(tag)
        if tag == "si":
            self.gather.reset()
        else:
            self.gather.start(tag)

    def end(self, tag: str) -> None:
        tag = _local(tag)
        if tag == "si":
            self.strings.append(self.gather.value())
        else:
            self.gather.end(tag)

    def text(self, data: str) -> None:
        self.gather.add(data)


class _Styles(_Handler):
    """The number format of each cell style, to tell which show dates."""

    def __init__(self) -> None:
        self.custom: dict[int, str] = {}
        self.formats: list[int] = []
        self.inside = ""

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = _local(tag)
        if tag in ("numFmts", "cellXfs"):
            self.inside = tag
        elif tag == "numFmt" and self.inside == "numFmts":
            self.custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
        elif tag == "xf" and self.inside == "cellXfs":
            self.formats.append(int(attrs.get("numFmtId", "0")))

    def end(self, tag: str) -> None:
        if _local(tag) == self.inside:
            self.inside = ""

    def dates(self) -> dict[int, bool]:
        """Map the styles that show a number as a date or a duration, as openpyxl does."""
        from openpyxl.styles.numbers import (
            builtin_format_code,
            is_date_format,
            is_timedelta_format,
        )

        dates: dict[int, bool] = {}
        for index, number in enumerate(self.formats):
            code = self.custom[number] if number in self.custom else builtin_format_code(number)
            if is_date_format(code):
                dates[index] = bool(is_timedelta_format(code))
        return dates


class _Sheet(_Handler):
    """Build the rows of a worksheet as it is read, each as its number and its cells' text."""

    def __init__(self, book: _Book) -> None:
        self.book = book
        self.rows: list[tuple[int, list[str]]] = []
        self.row: dict[int, str] | None = None
        self.number = self.column = 0
        self.kind = self.style = ""
        self.gather = _Text()

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = _local(tag)
        if tag == "c" and self.row is not None:
            self.column = _column(attrs.get("r"), self.column)
            self.kind, self.style = attrs.get("t", "n"), attrs.get("s", "")
            self.gather.reset()
        elif tag == "row":
            self.number = _row_number(attrs.get("r"), self.number)
            self.row, self.column = {}, 0
        elif tag == "dimension":
            _check_dimension(attrs.get("ref", ""))
        else:
            self.gather.start(tag)

    def end(self, tag: str) -> None:
        tag = _local(tag)
        if tag == "c" and self.row is not None:
            value = _value(self.kind, self.style, self.gather.value(), self.book)
            if value:
                self.row[self.column] = value
        elif tag == "row" and self.row is not None:
            self.rows.append((self.number, _cells(self.row)))
            self.row = None
        else:
            self.gather.end(tag)

    def text(self, data: str) -> None:
        self.gather.add(data)


_DIMENSION = re.compile(r"[A-Z]{0,3}(\d+)(?::[A-Z]{0,3}(\d+))?")


def _check_dimension(ref: str) -> None:
    """Refuse a sheet that says it has too many rows before reading them; trust no more."""
    match = _DIMENSION.fullmatch(ref)
    if match and match[2] and int(match[2]) - int(match[1]) > MAX_ROWS:
        raise Problem("roster.too_many_rows", limit=MAX_ROWS)


def _row_number(ref: str | None, previous: int) -> int:
    if not ref:
        return previous + 1
    number = int(ref)
    if number <= previous:
        raise ValueError("rows out of order")
    return number


_CELL_REF = re.compile(r"([A-Z]{1,3})\d*")


def _column(ref: str | None, previous: int) -> int:
    """Return a cell's column number, from its reference (AB12 is 28) or after the previous."""
    if not ref:
        number = previous + 1
    else:
        match = _CELL_REF.fullmatch(ref)
        if match is None:
            raise ValueError(f"cell reference {ref[:20]!r}")
        number = 0
        for letter in match[1]:
            number = number * 26 + ord(letter) - ord("A") + 1
    if number > MAX_COLUMNS:
        raise ValueError("past the last column")
    return number


def _cells(row: dict[int, str]) -> list[str]:
    cells = [""] * max(row, default=0)
    for column, value in row.items():
        cells[column - 1] = value
    return cells


def _value(kind: str, style: str, text: str, book: _Book) -> str:
    """Turn a cell's stored text into what a spreadsheet shows, as openpyxl reads it."""
    if not text:
        return ""
    if kind == "s":
        index = int(text)
        if index < 0:
            raise IndexError(index)
        return book.strings[index]
    if kind == "b":
        return "True" if text == "1" else "False"
    if kind == "d":
        return _iso_date(text)
    if kind != "n":
        return text  # inlineStr, str (what a formula gave) or e (#N/A and the like)
    number: int | float = float(text) if "." in text or "e" in text.lower() else int(text)
    duration = book.dates.get(int(style)) if style else None
    if duration is not None:
        return _excel_date(number, book.date1904, duration)
    return _cell_text(number)


def _excel_date(number: float, date1904: bool, duration: bool) -> str:
    from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

    try:
        return str(from_excel(number, MAC_EPOCH if date1904 else WINDOWS_EPOCH, duration))
    except (OverflowError, ValueError):
        return "#VALUE!"


def _iso_date(text: str) -> str:
    from openpyxl.utils.datetime import from_ISO8601

    try:
        return str(from_ISO8601(text))
    except ValueError:
        return text


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 101.0 is room 101
    return str(value)


def _columns(line: int, header: list[str], errors: RosterErrors) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        word = raw.strip().lstrip("\ufeff")
        if not word:
            continue
        if len(word) > MAX_CELL_CHARS:
            errors.add(RosterError(line, "roster.cell_too_big", {"limit": MAX_CELL_CHARS}))
            continue
        name = HEADERS.get(word) or HEADERS.get(word.lower())
        if name is None:
            errors.add(RosterError(line, "roster.unknown_column", {"column": _visible(word)}))
        elif name in columns:
            errors.add(RosterError(line, "roster.repeated_column", {"column": word}))
        else:
            columns[name] = index
    for name in REQUIRED:
        if name not in columns:
            errors.add(RosterError(line, "roster.missing_column", {"column": COLUMN_WORDS[name]}))
    return columns


def _visible(text: str) -> str:
    """Show text on the operator's terminal with its control characters as �, never run."""
    return "".join("\ufffd" if has_control_chars(char) else char for char in text)


def _row(
    line: int, cells: list[str], columns: dict[str, int], errors: RosterErrors
) -> RosterRow | None:
    width = max(columns.values()) + 1
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        errors.add(RosterError(line, "roster.extra_cells"))
        return None
    values: dict[str, str] = {}
    bad = False
    for name, index in columns.items():
        raw = cells[index] if index < len(cells) else ""
        value = raw.strip()
        if name in NORMALISED:
            value = unicodedata.normalize("NFKC", value).strip()
        problem = _cell_problem(name, raw, value)
        if problem is not None:
            errors.add(RosterError(line, problem[0], problem[1]))
            bad = True
            continue  # one reason a cell; a refused cell is not looked at again
        values[name] = value
    phone = _phone(values.get("phone", ""))
    if phone is None:
        errors.add(RosterError(line, "roster.bad_phone", {"phone": values["phone"]}))
        bad = True
    kinds, unknown = parse_care(values.get("care", ""))
    if unknown:
        errors.add(RosterError(line, "roster.unknown_care", {"words": "、".join(unknown)}))
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


_PHONE_TEXT = re.compile(r"[+\-\d\s().]+")


def _cell_problem(name: str, raw: str, value: str) -> tuple[str, dict[str, Any]] | None:
    """Return the message key and parameters of what is wrong with one cell, or None."""
    column = COLUMN_WORDS[name]
    if not raw:
        return ("roster.missing_value", {"column": column}) if name in REQUIRED else None
    if has_control_chars(value):
        return "roster.control_chars", {"column": column}
    # Exported to a spreadsheet such a cell would run as a formula. A phone number may start
    # with + (+86 139 0733 1234): it is stored in E.164, never as given.
    if formula_like(raw) and not (name == "phone" and _plain_phone(value)):
        return "roster.formula", {"column": column}
    if name in REQUIRED and not value:
        return "roster.missing_value", {"column": column}
    limit = LIMITS.get(name)
    if limit is not None and len(value) > limit:
        return "roster.too_long", {"column": column, "limit": limit}
    return None


def _plain_phone(text: str) -> bool:
    """Tell whether the text is nothing but a valid phone number."""
    return _PHONE_TEXT.fullmatch(text) is not None and bool(_phone(text))


def _phone(text: str) -> str | None:
    """Return the number in E.164, "" for none, or None when it is not a Chinese number."""
    return e164(text) if text else ""


_CARE_SETS: dict[frozenset[str], frozenset[str]] = {}


def _care_set(kinds: frozenset[str]) -> frozenset[str]:
    """Share one set object per combination of care kinds."""
    return _CARE_SETS.setdefault(kinds, kinds)
