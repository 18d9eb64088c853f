"""Text that is unsafe to store as given: spreadsheet formulas and control characters."""

from __future__ import annotations

# A cell starting with one of these runs as a formula once exported to a spreadsheet
# (OWASP, "CSV injection"); a leading tab or carriage return hides such a start.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    """Tell whether a spreadsheet would read this text as a formula."""
    return text.startswith(FORMULA_STARTS)


def has_control_chars(text: str) -> bool:
    """Tell whether the text holds control characters (NUL, tabs, line breaks and the like)."""
    return any(ord(char) < 32 or ord(char) == 127 for char in text)
