"""Find a CJK font reportlab can embed, or fall back to the PDF's standard Chinese font."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

FONT_NAME = "LinzhangCJK"
# The PDF standard's Simplified Chinese font: not embedded, the viewer must have it.
FALLBACK = "STSong-Light"

# TrueType-outline CJK fonts; reportlab cannot embed CFF fonts such as Noto Sans CJK.
KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/Supplemental/Songti.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
)


@dataclass(frozen=True)
class FontChoice:
    name: str
    path: Path | None

    @property
    def embedded(self) -> bool:
        return self.path is not None


@lru_cache(maxsize=4)
def cjk_font(configured: Path | None = None) -> FontChoice:
    """Register and return the first usable CJK font: configured, known, or from fontconfig."""
    for path in _candidates(configured):
        if _register(path):
            return FontChoice(FONT_NAME, path)
    log.warning(
        "no embeddable CJK font found; cards use %s, which the PDF viewer must supply. "
        "Install fonts-wqy-zenhei or set LINZHANG_CJK_FONT.",
        FALLBACK,
    )
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
    return FontChoice(FALLBACK, None)


def _candidates(configured: Path | None) -> list[Path]:
    paths = [configured] if configured else []
    paths += [Path(p) for p in KNOWN_FONTS]
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        if found:
            paths.append(Path(found))
    return [p for p in paths if p.is_file() and p.suffix.lower() in (".ttf", ".ttc")]


def _register(path: Path) -> bool:
    try:
        font = TTFont(FONT_NAME, str(path), subfontIndex=0)
    except (TTFError, OSError) as error:
        log.info("font %s cannot be embedded: %s", path, error)
        return False
    # fc-match always names some font; without CJK glyphs every character would be a box.
    if not all(ord(c) in font.face.charToGlyph for c in "中文联系卡"):
        log.info("font %s has no Chinese characters", path)
        return False
    pdfmetrics.registerFont(font)
    return True
