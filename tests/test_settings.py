"""Settings come from the environment; secrets never show in text."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings
from tests.conftest import Cli

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "LINZHANG_DATABASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "LINZHANG_RUNTIME",
        "LINZHANG_TIMEZONE",
        "LINZHANG_LANGUAGE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    current = Settings()
    assert current.database_url.get_secret_value() == "sqlite:///linzhang.db"
    assert current.telegram_bot_token is None
    assert current.telegram_api_url == "https://api.telegram.org"
    assert (current.runtime, current.timezone, current.language) == (
        "ptb",
        "Asia/Shanghai",
        "zh_CN",
    )


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / ".env").write_text(
        f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_API_URL=http://127.0.0.1:8081/\nLINZHANG_RUNTIME=aiogram\n"
    )
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("LINZHANG_RUNTIME", raising=False)
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)
    current = Settings()
    assert current.telegram_bot_token is not None
    assert current.telegram_bot_token.get_secret_value() == TOKEN
    assert current.telegram_api_url == "http://127.0.0.1:8081"
    assert current.runtime == "aiogram"


def test_secrets_stay_out_of_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv(
        "LINZHANG_DATABASE_URL", "postgresql://linzhang:s3cret-pw@db.example/linzhang"
    )
    current = Settings()
    with caplog.at_level(logging.INFO):
        logging.getLogger("linzhang").info("settings %s %r", current, current)
    for text in (str(current), repr(current), caplog.text, current.database_label()):
        assert TOKEN not in text and "s3cret-pw" not in text
    assert "db.example" in current.database_label()


def test_bad_settings_are_named_not_echoed(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token-but-a-secret")
    monkeypatch.setenv("LINZHANG_TIMEZONE", "Mars/Olympus")
    result = cli("roles", "list")
    assert result.exit_code == 2
    assert "TELEGRAM_BOT_TOKEN" in result.output and "Mars/Olympus" in result.output
    assert "not-a-token-but-a-secret" not in result.output
    assert "Traceback" not in result.output


def test_env_example_documents_every_setting_and_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text(encoding="utf-8")
    documented = {line.split("=")[0] for line in example.splitlines() if line and line[0].isupper()}
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert documented == aliases
    folder = Path(str(tmp_path))
    (folder / ".env").write_text(example, encoding="utf-8")
    monkeypatch.chdir(folder)
    for name in aliases:
        monkeypatch.delenv(str(name), raising=False)
    assert Settings().telegram_bot_token is None
