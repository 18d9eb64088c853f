"""Logs never carry the bot token or a phone number, not even inside a traceback; a failure
that repeats is one line and a count, not a line each time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from bot.logs import Redact, Repeats, add_filters, configure

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_token_and_phones_are_blanked(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("linzhang.test.redact")
    log.addFilter(Redact((TOKEN,)))
    with caplog.at_level(logging.INFO, logger="linzhang.test.redact"):
        log.info("POST http://127.0.0.1:8081/bot%s/getUpdates", TOKEN)
        log.info(
            "household phone %s and %s, landline %s",
            "13907331234",
            "+8613907331234",
            "0731-22881234",
        )
        try:
            raise RuntimeError(f"failed calling /bot{TOKEN}/sendMessage for 13907331234")
        except RuntimeError:
            log.exception("send failed")
    assert TOKEN not in caplog.text
    for phone in ("13907331234", "22881234"):
        assert phone not in caplog.text
    assert (
        "getUpdates" in caplog.text
        and "send failed" in caplog.text
        and "RuntimeError" in caplog.text
    )


def _redacted(text: str, secrets: tuple[str, ...] = (TOKEN,)) -> str:
    """Return a message as it leaves the redacting filter."""
    record = logging.LogRecord("linzhang.test", logging.INFO, __file__, 1, "%s", (text,), None)
    Redact(secrets).filter(record)
    return record.getMessage()


# How people write a phone number: mobiles and landlines, spaced, hyphenated, with the country
# code, in brackets, in full-width characters.
PHONES = [
    "13901815908",
    "139 0181 5908",
    "139-0181-5908",
    "+86 139 0181 5908",
    "+8613901815908",
    "+86-139-0181-5908",
    "8613901815908",
    "0086 13901815908",
    "(+86) 139 0181 5908",
    "１３９０１８１５９０８",
    "＋８６ １３９ ０１８１ ５９０８",
    "(0731)22881234",
    "(0731) 2288 1234",
    "（０７３１）２２８８１２３４",
    "0731 2288 1234",
    "0731-22881234",
    "073122881234",
    "0731-2288123",
    "010-8888-8888",
    "021 6123 4567",
    "+86-731-2288-1234",
    "+86 731 22881234",
    "+86 10 8888 8888",
]
AROUND = ["{}", "住户电话{}，请联系", "phone {}.", "tel:{}", "call {} or 13907331234"]


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize("around", AROUND)
def test_every_way_of_writing_a_phone_is_blanked(phone: str, around: str) -> None:
    assert _redacted(around.format(phone)) == around.replace("13907331234", "***").format("***")


# Numbers a log needs: update ids, references, times, addresses, and chat ids. A chat id can
# look like a mobile (a private chat's id is the user's); after "chat", "user" or "id" it is one.
KEPT = [
    "update 123456 failed",
    "request FRHY-2026-000123 escalated",
    "outbox 17 to chat -1001234567890 failed for good",
    "outbox 18 to chat 13901815908 failed for good",
    "group -13901815908 left",
    "sendMessage chat_id=13901815908",
    '{"chat": {"id": 13901815908, "type": "private"}}',
    "user 5123456789 pressed",
    "2026-12-03 08:13:48,242 took 0.731 s on 127.0.0.1:8443",
    "offset 2147483648",
    "version 13.9.0181",
]


@pytest.mark.parametrize("line", KEPT)
def test_ordinary_numbers_and_chat_ids_are_kept(line: str) -> None:
    assert _redacted(line) == line


def test_configured_secrets_are_blanked_whatever_their_shape() -> None:
    short = "42:abc"  # not the usual bot-id:secret shape, still the configured token
    secret = "s3cret_Webhook-token"
    text = (
        f"GET /bot{short}/getMe /bot42%3Aabc/getMe /bot42%3aabc/getMe "
        f"header {secret} url ?token=s3cret_Webhook-token"
    )
    assert _redacted(text, (short, secret)) == (
        "GET /bot***/getMe /bot***/getMe /bot***/getMe header *** url ?token=***"
    )


def test_a_token_is_blanked_also_percent_encoded_and_unconfigured() -> None:
    encoded = TOKEN.replace(":", "%3A")
    other = "987654321:ZZdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    text = f"/bot{encoded}/getMe /bot{other}/getMe /bot{other.replace(':', '%3a')}/getMe"
    assert _redacted(text) == "/bot***/getMe /bot***/getMe /bot***/getMe"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    """A handler that keeps each line it is given, through the filters `configure` installs."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, Lines, Clock]]:
    log = logging.getLogger("linzhang.test.repeats")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    lines, clock = Lines(), Clock()
    add_filters(lines, (TOKEN,), window=60, clock=clock)
    log.addHandler(lines)
    yield log, lines, clock
    log.removeHandler(lines)
    log.propagate = True


def test_a_repeated_failure_is_one_line_then_a_count(
    logged: tuple[logging.Logger, Lines, Clock],
) -> None:
    log, lines, clock = logged
    for update_id in range(1, 1001):  # a loop failing a thousand times in the window
        log.warning("update %s failed", update_id)
        clock.now += 0.01
    assert lines.lines == ["WARNING linzhang.test.repeats: update 1 failed"]
    clock.now += 60
    log.warning("update %s failed", 1001)
    assert lines.lines[1:] == [
        "WARNING linzhang.test.repeats: update 1000 failed (repeated 999 times in the last 60 s)",
        "WARNING linzhang.test.repeats: update 1001 failed",
    ]


def test_the_count_comes_with_the_next_other_line_after_the_window(
    logged: tuple[logging.Logger, Lines, Clock],
) -> None:
    log, lines, clock = logged
    for _ in range(3):
        log.error("getUpdates failed: %s", "Too many open files")
    clock.now += 30
    log.info("something else")  # within the window: no count yet
    clock.now += 31
    log.info("something else again")
    assert lines.lines == [
        "ERROR linzhang.test.repeats: getUpdates failed: Too many open files",
        "INFO linzhang.test.repeats: something else",
        "ERROR linzhang.test.repeats: getUpdates failed: Too many open files"
        " (repeated 2 times in the last 60 s)",
        "INFO linzhang.test.repeats: something else again",
    ]


def test_other_levels_loggers_and_templates_are_not_counted_together(
    logged: tuple[logging.Logger, Lines, Clock],
) -> None:
    log, lines, clock = logged
    other = logging.getLogger("linzhang.test.repeats.other")
    log.warning("update %s failed", 1)
    log.error("update %s failed", 1)
    other.warning("update %s failed", 1)
    log.warning("update %s failed!", 1)
    assert len(lines.lines) == 4
    clock.now += 61
    log.info("later")
    assert lines.lines[4:] == ["INFO linzhang.test.repeats: later"]  # nothing was held back


def test_the_count_is_redacted_too(logged: tuple[logging.Logger, Lines, Clock]) -> None:
    log, lines, clock = logged
    for _ in range(2):
        log.warning("POST /bot%s/sendMessage to %s failed", TOKEN, "139 0181 5908")
    clock.now += 61
    log.info("later")
    assert lines.lines[1] == (
        "WARNING linzhang.test.repeats: POST /bot***/sendMessage to *** failed"
        " (repeated 1 times in the last 60 s)"
    )


def test_templates_remembered_are_bounded_and_counts_not_lost() -> None:
    lines, clock = Lines(), Clock()
    repeats = Repeats(lines.handle, window=60, clock=clock, limit=3)
    lines.addFilter(repeats)
    log = logging.getLogger("linzhang.test.bounded")
    log.propagate = False
    log.addHandler(lines)
    try:
        for n in range(10):
            log.warning(f"failure {n}")  # ten templates, each twice
            log.warning(f"failure {n}")
        assert len(repeats.series) <= 3
    finally:
        log.removeHandler(lines)
        log.propagate = True
    counted = [line for line in lines.lines if "repeated 1 times" in line]
    assert len(counted) >= 7  # the forgotten ones said how often they came
    assert sum(1 for line in lines.lines if "repeated" not in line) == 10


def test_threads_logging_at_once_are_all_counted(
    logged: tuple[logging.Logger, Lines, Clock],
) -> None:
    log, lines, clock = logged

    def fail() -> None:
        for _ in range(500):
            log.warning("sending failed")

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.now += 61
    log.info("later")
    assert lines.lines == [
        "WARNING linzhang.test.repeats: sending failed",
        "WARNING linzhang.test.repeats: sending failed (repeated 3999 times in the last 60 s)",
        "INFO linzhang.test.repeats: later",
    ]


def test_configure_counts_then_redacts_and_writes_what_is_held_at_shutdown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure(secrets=(TOKEN,))
        [handler] = root.handlers
        assert [type(f) for f in handler.filters] == [Repeats, Redact]
        log = logging.getLogger("linzhang.test.shutdown")
        for _ in range(3):
            log.warning("POST /bot%s/getMe failed", TOKEN)
        handler.close()  # as logging.shutdown() does when the process exits
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "WARNING linzhang.test.shutdown: POST /bot***/getMe failed",
        "WARNING linzhang.test.shutdown: POST /bot***/getMe failed"
        " (repeated 2 times in the last 60 s)",
    ]
