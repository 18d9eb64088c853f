"""The aiogram 3 runtime: its Bot and session for HTTP, its types for updates; nothing more."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import Update

from bot import transport
from bot.update_event import to_event
from handlers.events import Incoming


class AiogramTransport:
    def __init__(self, token: str, api_url: str) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
        self._bot = Bot(token, session=session)
        self.bot_id = 0
        self.username = ""

    async def start(self) -> None:
        me = await self._bot.get_me()
        self.bot_id, self.username = me.id, me.username or ""

    async def stop(self) -> None:
        await self._bot.session.close()

    async def get_updates(self, offset: int, timeout: int, limit: int) -> list[dict[str, Any]]:
        method = _raw(methods.GetUpdates)(
            offset=offset, timeout=timeout, limit=limit, allowed_updates=transport.ALLOWED_UPDATES
        )
        try:
            updates = await self._bot(method, request_timeout=timeout + 10)
        except TelegramRetryAfter as error:
            raise transport.RetryAfter(error.retry_after) from error
        except (TelegramNetworkError, TelegramServerError) as error:
            raise transport.Transient(str(error)) from error
        return list(updates)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        kind = getattr(methods, method[0].upper() + method[1:], None)
        if kind is None:
            raise transport.Permanent(f"unknown method {method}")
        try:
            return await self._bot(_raw(kind).model_validate(params))
        except TelegramRetryAfter as error:
            raise transport.RetryAfter(error.retry_after) from error
        except (TelegramNetworkError, TelegramServerError) as error:
            raise transport.Transient(str(error)) from error
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as error:
            raise transport.Permanent(error.message) from error
        except TelegramAPIError as error:
            raise transport.Transient(error.message) from error

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self._bot.get_chat_member(chat_id, user_id)
        return member.status in ("creator", "administrator")

    def to_event(self, payload: dict[str, Any]) -> Incoming | None:
        return to_event(Update.model_validate(payload, context={"bot": self._bot}), self.username)


@cache
def _raw(kind: type[TelegramMethod[Any]]) -> type[TelegramMethod[Any]]:
    """The same Bot API method with its answer left as JSON.

    Updates go into the inbox as JSON and a send needs one field of its answer; building
    aiogram's models for them only to take them apart again cost a third of the adapter's time.
    """
    return type(f"Raw{kind.__name__}", (kind,), {"__returning__": Any, "__module__": __name__})
