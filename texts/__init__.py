"""Message catalogues: zh_CN first, en second; every text the bot shows comes from here.

A package of its own, beside handlers/ and bot/, so both speak from it and neither imports
the other for words.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"


@cache
def catalogue(language: str) -> dict[str, str]:
    """Load every `.po` file of a language into one key → text mapping."""
    messages: dict[str, str] = {}
    for path in sorted((LOCALES / language).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language.replace("-", "_")):
                if message.id and isinstance(message.id, str) and isinstance(message.string, str):
                    messages[message.id] = message.string
    return messages


def pick_language(choice: str | None, client: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Choose the person's own choice, else their client's language, else the default."""
    for code in (choice, client):
        language = normalise(code)
        if language:
            return language
    return normalise(default) or DEFAULT_LANGUAGE


def normalise(code: str | None) -> str | None:
    """Map codes like `zh-hans`, `zh_CN` or `en-GB` onto a catalogue we have."""
    if not code:
        return None
    lowered = code.replace("_", "-").lower()
    if lowered.startswith("zh"):
        return "zh_CN"
    if lowered.startswith("en"):
        return "en"
    return None


def t(key: str, language: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Render a message in a language, falling back to Chinese, then to the key itself."""
    text = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**params) if params else text
