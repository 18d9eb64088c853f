"""Logging that never writes the bot token or a phone number, and writes a failure that repeats
once with a count."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import quote

from pythonjsonlogger.json import JsonFormatter

# The bot-id:secret shape of a token, also with its colon percent-encoded as in a URL.
TOKEN = re.compile(r"\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{20,}")

# Full-width digits and signs, other dashes and spaces, each to one ASCII character: a match
# in the translated text is then at the same place in the original.
FULL_WIDTH = str.maketrans(
    "０１２３４５６７８９＋－（）\u3000\u00a0\u2010\u2011\u2012\u2013\u2014",
    "0123456789+-()  -----",
)
_SEP = r"[ -]?"
_MOBILE = rf"1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}"
_LOCAL = rf"[2-9]\d{{2,3}}{_SEP}\d{{4}}"
_AREA = r"(?:0\d{2,3}|\(0\d{2,3}\))"
_COUNTRY = rf"(?:\+86|0086|\(\+?86\)){_SEP}"
PHONE = re.compile(
    rf"""
    # A Telegram id can look like a mobile: a private chat's id is the user's, and user ids
    # pass ten digits. After a word that names one ("chat 1390...", chat_id=, "id": ) a number
    # is kept; so is one after a minus (groups' ids are negative) or inside a longer number,
    # a word or a reference such as FRHY-2026-000123. A phone written so is missed; a chat id
    # blanked would make every delivery failure untraceable.
    (?P<label>\b(?:chat_id|chat|user_id|user|id)["']?\s?[:=]?\s?)?
    (?<![\w+-])
    (?:
        (?:{_COUNTRY}|86{_SEP})?{_MOBILE}
      | (?:{_COUNTRY})?{_AREA}{_SEP}{_LOCAL}
      | {_COUNTRY}\(?[1-9]\d{{1,2}}\)?{_SEP}{_LOCAL}  # +86-731-2288-1234: the area without its 0
    )
    (?!\w)
    """,
    re.VERBOSE | re.ASCII,
)

# A failure that repeats is written once, then counted for this long.
REPEAT_WINDOW = 60.0
# How many messages the counting remembers at once; the oldest is summed up and forgotten.
REPEAT_LIMIT = 256
_COUNTED = "repeats_counted"


class Redact(logging.Filter):
    """Blank out secrets (also inside URLs such as /bot<token>/getUpdates) and phone numbers."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = _secret_pattern(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        text = self.redact(_render(record))
        if record.exc_info:
            # Tracebacks carry URLs and arguments too; render them now, redacted.
            text += "\n" + self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.msg, record.args = text, None
        return True

    def redact(self, text: str) -> str:
        """Return the text with secrets, tokens and phone numbers blanked out."""
        if self.secrets is not None:
            text = self.secrets.sub("***", text)
        return _blank_phones(TOKEN.sub("***", text))


def _secret_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """Match each secret by its value, as written or percent-encoded, longest first."""
    forms = [
        "".join(_written_or_encoded(char) for char in secret)
        for secret in sorted(set(secrets), key=len, reverse=True)
        if secret
    ]
    return re.compile("|".join(forms)) if forms else None


def _written_or_encoded(char: str) -> str:
    """Match one character as it is, or as a URL encodes it (either case of hex digits)."""
    encoded = quote(char, safe="")
    if encoded == char:
        return re.escape(char)
    hexed = re.sub(r"[A-F]", lambda m: f"[{m[0]}{m[0].lower()}]", encoded)
    return f"(?:{re.escape(char)}|{hexed})"


def _blank_phones(text: str) -> str:
    """Blank out phone numbers, also in full-width characters; keep ids named as such."""
    probe = text.translate(FULL_WIDTH)
    pieces: list[str] = []
    end = 0
    for match in PHONE.finditer(probe):
        if match["label"] is None:
            pieces += (text[end : match.start()], "***")
            end = match.end()
    return "".join(pieces) + text[end:]


def _render(record: logging.LogRecord) -> str:
    """Return a record's message; a bad format string is shown, not raised into the caller."""
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!r} % {record.args!r}"


@dataclass
class _Series:
    started: float
    name: str
    levelno: int
    count: int = 0
    last: str = ""


class Repeats(logging.Filter):
    """Let the first of identical records through and count the rest for a window.

    Identical means the same logger, level and message template; the arguments may differ.
    When a record arrives after a window has ended, the count is written first as one line,
    the last held-back message with "(repeated N times in the last W s)". A filter has no
    clock of its own, so a count waits for the next record; a record in the same template
    then starts a new window, written again.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        *,
        window: float = REPEAT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        limit: int = REPEAT_LIMIT,
    ) -> None:
        super().__init__()
        self.emit = emit
        self.window = window
        self.clock = clock
        self.limit = limit
        self.lock = threading.Lock()
        # Oldest first: a series is added when it starts and removed when it ends.
        self.series: dict[tuple[str, int, str], _Series] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _COUNTED, False):
            return True
        key = (record.name, record.levelno, str(record.msg))
        with self.lock:
            now = self.clock()
            ended = self._ended(now)
            series = self.series.get(key)
            if series is None:
                self.series[key] = _Series(now, record.name, record.levelno)
                if len(self.series) > self.limit:
                    ended.append(self.series.pop(next(iter(self.series))))
            else:
                series.count += 1
                series.last = _render(record)
        # Outside the lock: the count goes through the handler, and so through this filter.
        for done in ended:
            if done.count:
                self.emit(self._summary(done))
        return series is None

    def flush(self) -> None:
        """Write the counts still held back, as logging shuts down."""
        with self.lock:
            held, self.series = list(self.series.values()), {}
        for series in held:
            if series.count:
                self.emit(self._summary(series))

    def _ended(self, now: float) -> list[_Series]:
        """Take out the series whose window has closed."""
        ended = []
        while self.series:
            key, oldest = next(iter(self.series.items()))
            if now - oldest.started < self.window:
                break
            ended.append(self.series.pop(key))
        return ended

    def _summary(self, series: _Series) -> logging.LogRecord:
        """Make the one line that stands for the records held back."""
        return logging.makeLogRecord(
            {
                "name": series.name,
                "levelno": series.levelno,
                "levelname": logging.getLevelName(series.levelno),
                "msg": "%s (repeated %d times in the last %g s)",
                "args": (series.last, series.count, self.window),
                _COUNTED: True,
            }
        )


class _Stderr(logging.StreamHandler[TextIO]):
    """Standard error, where the counts still held back are written when logging shuts down."""

    def close(self) -> None:
        for held in self.filters:
            if isinstance(held, Repeats):
                held.flush()
        super().close()


def add_filters(
    handler: logging.Handler,
    secrets: tuple[str, ...] = (),
    *,
    window: float = REPEAT_WINDOW,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Count repeats, then redact, on what the handler writes (in that order: the counting
    tells messages apart by their template, which redaction replaces with the text)."""
    handler.addFilter(Repeats(handler.handle, window=window, clock=clock))
    handler.addFilter(Redact(secrets))


def configure(
    level: int = logging.INFO, secrets: tuple[str, ...] = (), *, as_json: bool = False
) -> None:
    """Log to stderr through the filters, as text or one JSON object per line; quiet the HTTP
    libraries' request lines."""
    handler = _Stderr()
    add_filters(handler, secrets)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "aiogram.event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
