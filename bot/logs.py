"""Logging that never writes the bot token or a phone number."""

from __future__ import annotations

import logging
import re

PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")


class Redact(logging.Filter):
    """Blank out tokens (also inside URLs such as /bot<token>/getUpdates) and phone numbers."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = PHONE.sub("***", TOKEN.sub("***", text))
        if record.exc_info:
            # Tracebacks carry URLs and arguments too; render them now, redacted.
            formatted = logging.Formatter().formatException(record.exc_info)
            text += "\n" + PHONE.sub("***", TOKEN.sub("***", _strip(formatted, self.secrets)))
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = text, None
        return True


def _strip(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def configure(level: int = logging.INFO, secrets: tuple[str, ...] = ()) -> None:
    """Log to stderr through the redacting filter; quiet the HTTP libraries' request lines."""
    handler = logging.StreamHandler()
    handler.addFilter(Redact(secrets))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "aiogram.event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
