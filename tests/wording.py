"""What a message shown to a person may not contain: internal codes, raw errors, loose ends."""

from __future__ import annotations

import re
from functools import cache

from models.deadline_rule import Step
from models.request import Level, Rating, RequestKind, State
from models.request_flow import Reason
from models.role import Force, Role
from texts import catalogue

# Latin words a Chinese message may carry: the platform, a QR code, file kinds.
ALLOWED_IN_CHINESE = {"Telegram", "QR", "ID", "PDF", "CSV", "XLSX", "UTF"}
# What the Bot API or a library says when something fails; never shown to a person.
RAW_ERRORS = ("Bad Request", "Forbidden", "chat not found", "Traceback", "Error:", "Exception")
ACTIONS = (
    "filed",
    "signed",
    "progress",
    "resolved",
    "escalated",
    "sent_up",
    "breached",
    "returned",
    "sent_down",
    "reopened",
    "confirmed",
    "closed_unrated",
    "withdrawn",
    "overdue",
)
_REFERENCE = re.compile(r"\b[A-Z]{1,4}-\d{4}-\d{6}\b")
_URL = re.compile(r"https?://\S+")
_COMMAND = re.compile(r"/[a-z_]+")
_LATIN = re.compile(r"[A-Za-z][A-Za-z_]*")


@cache
def internal_codes() -> frozenset[str]:
    """Every code the program uses for a state, a rating, a level, a kind, a role, a step."""
    enums = (State, Rating, Level, RequestKind, Force, Role, Step, Reason)
    codes = {member.value for enum in enums for member in enum}
    return frozenset(codes | set(ACTIONS))


@cache
def _english_words() -> frozenset[str]:
    words: set[str] = set()
    for text in catalogue("en").values():
        words.update(word.lower() for word in _LATIN.findall(text))
    return frozenset(words)


def leaks(text: str, language: str) -> list[str]:
    """The parts of a message that must not be shown to a person; empty when it is clean."""
    found = [error for error in RAW_ERRORS if error.lower() in text.lower()]
    if re.search(r"\{[a-z_]*\}", text):
        found.append("unrendered placeholder")
    if any(line != line.rstrip() for line in text.splitlines()):
        found.append("trailing space")
    if "None" in text.split():
        found.append("None")
    plain = _COMMAND.sub(" ", _URL.sub(" ", _REFERENCE.sub(" ", text)))
    words = _LATIN.findall(plain)
    if language == "zh_CN":
        found += [word for word in words if word not in ALLOWED_IN_CHINESE]
    else:
        # English words may coincide with a code ("resolved"); those the catalogue itself never
        # uses ("dissatisfied", "in_progress", "owners_committee") can only be leaks.
        unused = internal_codes() - _english_words()
        found += [word for word in words if "_" in word or word in unused]
    return found
