"""Every message exists in both languages with the same placeholders; code uses known keys."""

from __future__ import annotations

import re
import string
from pathlib import Path

from texts import LANGUAGES, catalogue, normalise, pick_language, t

ROOT = Path(__file__).resolve().parent.parent
KEY_USE = re.compile(
    r"""\b(?:t|say|fail|Problem|RosterError|_t|text)\(\s*["']([a-z_]+(?:\.[a-z0-9_]+)+)["']"""
)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalogue("zh_CN"), catalogue("en")
    assert zh, "no Chinese catalogue loaded"
    assert set(zh) == set(en), set(zh) ^ set(en)
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert _fields(zh[key]) == _fields(en[key]), key


def test_every_key_used_in_code_exists() -> None:
    known = set(catalogue("zh_CN"))
    used: dict[str, Path] = {}
    for folder in ("bot", "handlers", "models", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            for key in KEY_USE.findall(path.read_text(encoding="utf-8")):
                used[key] = path
    missing = {key: str(path.relative_to(ROOT)) for key, path in used.items() if key not in known}
    assert not missing


def test_chinese_first_then_fallbacks() -> None:
    assert LANGUAGES[0] == "zh_CN"
    assert pick_language(None, None) == "zh_CN"
    assert pick_language(None, "en-GB") == "en"
    assert pick_language("zh_CN", "en") == "zh_CN"
    assert pick_language(None, "fr", "en") == "en"
    assert normalise("zh-hans") == "zh_CN"
    assert t("role.neighbour_head") == "邻长"
    assert t("role.neighbour_head", "en") == "neighbour head"
    assert t("cli.error", "en", message="x") == "Error: x"
