"""The district's figures written out: a table for the terminal, JSON, a spreadsheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handlers.speech import Voice
from models.figures import LEVELS, Figures, Line, Report
from texts import t

COUNTS = (
    "heads_in_office",
    "households_served",
    "cards_issued",
    "opinions_collected",
    "disputes_mediated",
    "services_resolved",
    "visits_done",
    "visits_planned",
    "cleaning_days_held",
)
RATES = (
    "signed_in_time",
    "resolved_in_time",
    "satisfaction",
    "election_turnout",
    "visit_coverage",
)
HOURS = ("median_hours_to_sign", "median_hours_to_resolve")


def columns(language: str) -> list[str]:
    """The heading of every column, in the reader's language."""
    names = [t("figures.unit", language)]
    names += [t(f"figures.{name}", language) for name in (*COUNTS, *RATES, *HOURS)]
    names += [t(f"figures.settled_at.{level}", language) for level in LEVELS]
    return names


def values(figures: Figures) -> list[Any]:
    """A line's figures in column order (rates 0–1, None where nothing was counted)."""
    row: list[Any] = [getattr(figures, name) for name in (*COUNTS, *RATES, *HOURS)]
    return row + [figures.settled_at[level] for level in LEVELS]


def unit_name(line: Line, language: str) -> str:
    return line.unit.name or t("cli.report.district", language)


def as_table(report: Report, language: str) -> str:
    """One line per unit, the unit itself first, each figure under its heading."""
    heading = columns(language)
    lines = [t("figures.period", language, first=report.period.first, last=report.period.last)]
    for line in (report.total, *report.parts):
        shown = [unit_name(line, language)] + [_shown(v, name) for v, name in _named(line.figures)]
        lines.append("  ".join(f"{h}={v}" for h, v in zip(heading, shown, strict=True)))
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    def one(line: Line) -> dict[str, Any]:
        return {
            "unit": {"kind": line.unit.kind, "name": line.unit.name},
            **{name: getattr(line.figures, name) for name in (*COUNTS, *RATES, *HOURS)},
            "settled_at": line.figures.settled_at,
        }

    return {
        "period": {
            "first": report.period.first.isoformat(),
            "last": report.period.last.isoformat(),
        },
        "total": one(report.total),
        "parts": [one(line) for line in report.parts],
    }


def as_xlsx(report: Report, language: str, path: Path) -> None:
    """A sheet with a heading row, the unit, then each unit below it; rates as percentages."""
    from openpyxl import Workbook  # only when a spreadsheet is asked for

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("figures.sheet", language)
    sheet.append(columns(language))
    for line in (report.total, *report.parts):
        sheet.append([unit_name(line, language), *values(line.figures)])
    for column in sheet.iter_cols(min_col=2 + len(COUNTS), max_col=1 + len(COUNTS) + len(RATES)):
        for cell in column[1:]:
            cell.number_format = "0.0%"
    book.save(path)


def _named(figures: Figures) -> list[tuple[Any, str]]:
    names = [*COUNTS, *RATES, *HOURS] + [f"settled_at.{level}" for level in LEVELS]
    return list(zip(values(figures), names, strict=True))


def _shown(value: Any, name: str) -> str:
    if value is None:
        return "–"
    if name in RATES:
        return f"{value:.1%}"
    if name in HOURS:
        return f"{value:.1f}"
    return str(value)


def figures_text(report: Report, say: Voice) -> str:
    """The figures of a report's unit as a message: one line each, then where matters settled."""
    figures = report.total.figures
    lines = [
        say(
            "stats.header",
            unit=unit_name(report.total, say.language),
            first=report.period.first,
            last=report.period.last,
        )
    ]
    for name in (*COUNTS, *RATES, *HOURS):
        value = getattr(figures, name)
        if value is None:
            shown = say("stats.nothing")
        elif name in RATES:
            shown = f"{value:.0%}"
        elif name in HOURS:
            shown = f"{value:.1f}"
        else:
            shown = str(value)
        lines.append(say("stats.line", name=say(f"figures.{name}"), value=shown))
    lines.append(say("stats.settled", **{level: figures.settled_at[level] for level in LEVELS}))
    return "\n".join(lines)
