"""Settings from the environment and `.env`; secrets stay SecretStr."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

TOKEN_FORM = re.compile(r"\d+:[A-Za-z0-9_-]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    database_url: SecretStr = Field(
        SecretStr("sqlite:///linzhang.db"), alias="LINZHANG_DATABASE_URL"
    )
    telegram_bot_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field("https://api.telegram.org", alias="TELEGRAM_API_URL")
    bot_username: str | None = Field(None, alias="LINZHANG_BOT_USERNAME")
    runtime: Literal["ptb", "aiogram"] = Field("ptb", alias="LINZHANG_RUNTIME")
    timezone: str = Field("Asia/Shanghai", alias="LINZHANG_TIMEZONE")
    language: Literal["zh_CN", "en"] = Field("zh_CN", alias="LINZHANG_LANGUAGE")
    # A push of the week missed while no process ran is sent on start if at most this late.
    schedule_grace_hours: float = Field(12.0, ge=0, alias="LINZHANG_SCHEDULE_GRACE_HOURS")
    cjk_font: Path | None = Field(None, alias="LINZHANG_CJK_FONT")
    webhook_url: str | None = Field(None, alias="LINZHANG_WEBHOOK_URL")
    webhook_listen: str = Field("127.0.0.1:8443", alias="LINZHANG_WEBHOOK_LISTEN")
    webhook_secret: SecretStr | None = Field(None, alias="LINZHANG_WEBHOOK_SECRET")
    send_overall_per_second: float = Field(30.0, gt=0, alias="LINZHANG_SEND_OVERALL_PER_SECOND")
    send_group_per_minute: int = Field(20, gt=0, alias="LINZHANG_SEND_GROUP_PER_MINUTE")
    send_chat_per_second: float = Field(1.0, gt=0, alias="LINZHANG_SEND_CHAT_PER_SECOND")
    # Calls to the Bot API in flight at once, and how long one may take before its outcome
    # counts as unknown.
    send_in_flight: int = Field(16, ge=1, le=100, alias="LINZHANG_SEND_IN_FLIGHT")
    send_deadline: float = Field(10.0, gt=0, le=120, alias="LINZHANG_SEND_DEADLINE")
    # /healthz and /metrics while polling ("off": none); in webhook mode the webhook serves them.
    health_listen: str = Field("127.0.0.1:9464", alias="LINZHANG_HEALTH_LISTEN")
    log_format: Literal["text", "json"] = Field("text", alias="LINZHANG_LOG_FORMAT")
    # Days after a resident leaves (bound to no household, no role) before their data is erased.
    retention_days: int = Field(180, ge=1, alias="LINZHANG_RETENTION_DAYS")
    # No setting for the outbox journal: it belongs to the database, not to a process (see
    # Runtime._journal); one named per process let a new leader resend what the last one sent.

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_form(cls, value: SecretStr | None) -> SecretStr | None:
        # The message names the setting, never the value.
        if value is not None and not TOKEN_FORM.fullmatch(value.get_secret_value()):
            raise ValueError("TELEGRAM_BOT_TOKEN is not of the form <digits>:<letters>")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_root(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("TELEGRAM_API_URL must be an http(s) server root")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def database_label(self) -> str:
        """Return the database URL fit for logs: the password hidden."""
        return make_url(self.database_url.get_secret_value()).render_as_string(hide_password=True)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
