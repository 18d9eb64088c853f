"""Text that is unsafe to store as given: spreadsheet formulas and control characters."""

from __future__ import annotations

import re
import unicodedata

# A cell starting with one of these runs as a formula once exported to a spreadsheet
# (OWASP, "CSV injection"); a leading tab or carriage return hides such a start.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# C0 controls, DEL and C1 controls (Unicode category Cc): nothing a name or an address needs.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def formula_like(text: str) -> bool:
    """Tell whether a spreadsheet would read this text as a formula."""
    if not text or text[0].isalnum():
        return False  # most text: no letter or digit folds to one of FORMULA_STARTS
    if text.startswith(FORMULA_STARTS):
        return True
    # Spreadsheets may trim the spaces in front, and a Chinese input method types ＝ and ＋,
    # which some of them take for = and + (NFKC folds them the same way).
    first = unicodedata.normalize("NFKC", text.lstrip()[:1])
    return first.startswith(FORMULA_STARTS)


def has_control_chars(text: str) -> bool:
    """Tell whether the text holds control characters (NUL, tabs, line breaks and the like)."""
    return _CONTROL.search(text) is not None
