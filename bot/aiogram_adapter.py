"""The aiogram 3 runtime: its Bot and session for HTTP, its types for updates; nothing more."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import BufferedInputFile, Update
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from bot import transport
from bot.update_event import to_event
from handlers.events import Incoming

# Telegram's status for "try again later" answers starts here.
SERVER_ERROR = 500
# Set on the calls this adapter builds from plain parameters: they go out as JSON.
PLAIN = "__linzhang_plain__"
JSON_BODY = {"Content-Type": "application/json"}


class _Session(AiohttpSession):
    """aiogram's session, sending our calls' parameters as JSON and telling an answer that is
    not the Bot API's from a refusal."""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        # aiogram sends a form: every parameter through prepare_value, nested ones as JSON,
        # then the whole percent-encoded (nine characters for each Chinese one). The Bot API
        # reads JSON as well, and pydantic writes a validated call as JSON in one step: the
        # form cost more than the rest of a call. The fields dropped are those aiogram drops
        # (not given, or None); this Bot has no defaults that would fill them.
        if not getattr(method, PLAIN, False):
            return await super().make_request(bot, method, timeout)
        try:
            body = method.model_dump_json(exclude_unset=True, exclude_none=True).encode()
        except PydanticSerializationError:
            # A file to upload: aiogram's multipart form.
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=JSON_BODY,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as answer:
                content = await answer.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=method, message=message) from error
        response = self.check_response(bot, method, answer.status, content)
        return cast(TelegramType, response.result)

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        # Every answer of the Bot API is a JSON object; anything else (a proxy's page) came from
        # something in the way, whatever its status, and says nothing about the request.
        if content.lstrip()[:1] != "{":
            raise transport.Transient("not JSON", status_code)
        if status_code >= SERVER_ERROR:
            raise transport.Transient("server error", status_code)
        return super().check_response(bot, method, status_code, content)


class AiogramTransport:
    def __init__(self, token: str, api_url: str, connections: int = 24) -> None:
        session = _Session(api=TelegramAPIServer.from_base(api_url), limit=connections)
        self._bot = Bot(token, session=session)
        self.bot_id = 0
        self.username = ""

    async def start(self) -> None:
        me = await self._bot.get_me()
        self.bot_id, self.username = me.id, me.username or ""
        _warm_up()

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
        except TelegramConflictError as error:
            # Another poller, or a webhook set meanwhile: polling tries again all the same.
            raise transport.Transient(error.message, 409) from error
        except TelegramAPIError as error:
            raise transport.Transient(error.message) from error
        except ClientDecodeError as error:
            raise transport.Transient("unreadable answer") from error
        return list(updates)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        kind = getattr(methods, method[0].upper() + method[1:], None)
        if kind is None:
            raise transport.Permanent(f"unknown method {method}")
        params = transport.with_uploads(params, _upload)
        try:
            request = _raw(kind).model_validate(params)
        except ValidationError as error:
            raise transport.Permanent(f"invalid parameters for {method}") from error
        try:
            return await self._bot(request)
        except TelegramRetryAfter as error:
            raise transport.RetryAfter(error.retry_after) from error
        except TelegramMigrateToChat as error:
            raise transport.Migrated(error.migrate_to_chat_id) from error
        except (TelegramNetworkError, TelegramServerError) as error:
            raise transport.Transient(error.message) from error
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as error:
            raise transport.Permanent(error.message) from error
        except TelegramAPIError as error:
            raise transport.Transient(error.message) from error
        except ClientDecodeError as error:
            raise transport.Transient("unreadable answer") from error

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self._bot.get_chat_member(chat_id, user_id)
        return member.status in ("creator", "administrator")

    def to_event(self, payload: dict[str, Any]) -> Incoming | None:
        return to_event(Update.model_validate(payload, context={"bot": self._bot}), self.username)


def _warm_up() -> None:
    """Build the models of the methods the sender calls most, before it calls them.

    aiogram builds a method's pydantic model the first time it is used: 150 ms with the loop
    stopped, which bunches the calls in flight at the server and can take them over its limit.
    """
    for kind, params in (
        (methods.SendMessage, {"chat_id": 1, "text": "."}),
        (methods.EditMessageText, {"chat_id": 1, "message_id": 1, "text": "."}),
        (methods.AnswerCallbackQuery, {"callback_query_id": "1"}),
    ):
        _raw(kind).model_validate(params)


@cache
def _raw(kind: type[TelegramMethod[Any]]) -> type[TelegramMethod[Any]]:
    """The same Bot API method with its answer, and its keyboard, left as JSON.

    Updates go into the inbox as JSON and a send needs one field of its answer; building
    aiogram's models for them only to take them apart again cost a third of the adapter's time.
    A keyboard is the outbox's own JSON (handlers/outgoing.py) and is sent as it is: a model
    for every button cost seven times the rest of the call's checks (55 µs for five buttons).
    """
    namespace: dict[str, Any] = {"__returning__": Any, "__module__": __name__, PLAIN: True}
    if "reply_markup" in kind.model_fields:
        namespace["__annotations__"] = {"reply_markup": dict[str, Any] | None}
        namespace["reply_markup"] = None
    return type(f"Raw{kind.__name__}", (kind,), namespace)


def _upload(data: bytes, filename: str) -> BufferedInputFile:
    return BufferedInputFile(data, filename=filename)
