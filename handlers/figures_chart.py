"""The district's figures as a bar chart (PNG) with Chinese labels.

matplotlib draws it; the Chinese font is Noto Sans CJK SC as the mplfonts package ships it (a
machine without a CJK font would draw boxes), or LINZHANG_CJK_FONT when set.
"""

from __future__ import annotations

import gc
import importlib.util
import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.figures_out import unit_name
from models.figures import Report
from texts import t

if TYPE_CHECKING:
    from matplotlib.font_manager import FontProperties

SHOWN = ("opinions_collected", "disputes_mediated", "services_resolved")
# Beyond this many units the bars are unreadable: the largest are shown.
MOST_UNITS = 20


@lru_cache(maxsize=2)
def chinese_font(configured: Path | None = None) -> FontProperties:
    """The font every label is drawn in."""
    from matplotlib import font_manager

    if configured is None:
        # Found, not imported: the package's own code is a command line we do not need.
        spec = importlib.util.find_spec("mplfonts")
        assert spec is not None and spec.submodule_search_locations
        home = Path(next(iter(spec.submodule_search_locations)))
        configured = home / "fonts" / "NotoSansCJKsc-Regular.otf"
    font_manager.fontManager.addfont(str(configured))
    return font_manager.FontProperties(fname=str(configured))


def chart(report: Report, language: str, font: Path | None = None) -> bytes:
    """Bars of opinions, disputes and services for each unit below the report's unit."""
    # Imported here, not with the module: the router imports every module of handlers/, and
    # matplotlib would cost every bot process 40 MB and a third of a second at start.
    import matplotlib

    matplotlib.use("Agg")  # no screen: draw to memory
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    prop = chinese_font(font)
    parts = sorted(report.parts, key=lambda line: -line.figures.opinions_collected)[:MOST_UNITS]
    names = [unit_name(line, language) for line in parts] or [unit_name(report.total, language)]
    lines = parts or [report.total]
    figure = Figure(figsize=(max(6.0, 0.6 * len(names) + 3), 4.5), dpi=120)
    axes = figure.add_subplot()
    width = 0.8 / len(SHOWN)
    for i, name in enumerate(SHOWN):
        heights = [getattr(line.figures, name) for line in lines]
        positions = [x + (i - 1) * width for x in range(len(lines))]
        axes.bar(positions, heights, width, label=t(f"figures.{name}", language))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, not fractions
    axes.set_xticks(range(len(lines)), names, fontproperties=prop, rotation=30, ha="right")
    title = t(
        "figures.chart_title",
        language,
        unit=unit_name(report.total, language),
        first=report.period.first,
        last=report.period.last,
    )
    axes.set_title(title, fontproperties=prop)
    axes.legend(prop=prop)
    # Fixed margins: fitting them to the labels (tight_layout) draws the whole figure twice.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.2)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    del figure, axes
    # A figure's artists hold each other in cycles, with its 1.5 MB canvas among them, and the
    # bot collects its oldest generation rarely (bot/runtime.py): collected here while young,
    # in a millisecond or two, instead of each /stats leaving one behind.
    gc.collect(1)
    return out.getvalue()
