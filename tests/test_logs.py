"""Logs never carry the bot token or a phone number, not even inside a traceback."""

from __future__ import annotations

import logging

import pytest

from bot.logs import Redact

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
