"""The python-telegram-bot runtime: its Bot for HTTP, its types for updates; nothing more."""

from __future__ import annotations

import os
import warnings
from typing import Any

# Opt in to PTB's coming timedelta retry_after now, instead of a deprecation warning per 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InputFile, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBUserWarning

from bot import transport
from bot.ptb_request import AiohttpRequest, BadAnswer
from bot.update_event import press_event, to_event
from handlers.events import Incoming

# We call methods by name on purpose (the outbox stores method + params); PTB warns about that
# for methods it also wraps. Filtered once here: a catch_warnings block per call costs more
# than the call's own bookkeeping, and resets every module's warning cache each time.
warnings.filterwarnings(
    "ignore", r"Please use 'Bot\..*' instead of 'Bot\.do_api_request", PTBUserWarning
)


class PtbTransport:
    def __init__(self, token: str, api_url: str, connections: int = 24) -> None:
        self._bot = Bot(
            token,
            base_url=f"{api_url}/bot",
            base_file_url=f"{api_url}/file/bot",
            request=AiohttpRequest(connection_pool_size=connections),
            get_updates_request=AiohttpRequest(read_timeout=60),
        )
        self.bot_id = 0
        self.username = ""

    async def start(self) -> None:
        await self._bot.initialize()
        self.bot_id, self.username = self._bot.id, self._bot.username

    async def stop(self) -> None:
        await self._bot.shutdown()

    async def get_updates(self, offset: int, timeout: int, limit: int) -> list[dict[str, Any]]:
        try:
            result = await self._request(
                "getUpdates",
                {
                    "offset": offset,
                    "timeout": timeout,
                    "limit": limit,
                    "allowed_updates": transport.ALLOWED_UPDATES,
                },
                read_timeout=timeout + 10,
            )
        except RetryAfter as error:
            raise transport.RetryAfter(_seconds(error.retry_after)) from error
        except TelegramError as error:
            # Whatever the answer (another poller's 409, a proxy's page), polling goes on.
            raise _transient(error) from error
        return list(result)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        params = transport.with_uploads(params, _input_file)
        try:
            return await self._request(method, params)
        except RetryAfter as error:
            raise transport.RetryAfter(_seconds(error.retry_after)) from error
        except ChatMigrated as error:
            raise transport.Migrated(int(error.new_chat_id)) from error
        except BadAnswer as error:
            raise _transient(error) from error
        except (BadRequest, Forbidden) as error:
            raise transport.Permanent(error.message) from error
        except NetworkError as error:
            raise _transient(error) from error
        except TelegramError as error:
            raise transport.Permanent(str(error)) from error

    async def _request(
        self, method: str, params: dict[str, Any], read_timeout: float | None = None
    ) -> Any:
        return await self._bot.do_api_request(method, api_kwargs=params, read_timeout=read_timeout)

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self._bot.get_chat_member(chat_id, user_id)
        return member.status in ("creator", "administrator")

    def to_event(self, payload: dict[str, Any]) -> Incoming | None:
        if "callback_query" in payload:
            return press_event(payload)
        return to_event(Update.de_json(payload, self._bot), self.username)


def _transient(error: TelegramError) -> transport.Transient:
    """Say in a few words, with the status when known, what went wrong."""
    if isinstance(error, BadAnswer):
        return transport.Transient(error.kind, error.status)
    if isinstance(error, Conflict):
        return transport.Transient(error.message, 409)
    return transport.Transient(error.message)


def _input_file(data: bytes, filename: str) -> InputFile:
    return InputFile(data, filename=filename)


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
