"""python-telegram-bot's networking on aiohttp instead of httpx.

PTB lets any HTTP library carry its requests (`telegram.request.BaseRequest`). A sendMessage
through PTB costs about a third of the CPU on this one that it does on its default httpx backend
(`bench/primitives.py http`, figures in BENCHMARKS.md); the sender makes one or two such calls
per update. aiohttp is already here for the webhook and the local Bot API server.
"""

from __future__ import annotations

import json

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# Telegram's status for "try again later" answers starts here.
SERVER_ERROR = 500


class BadAnswer(NetworkError):
    """An answer that is not the Bot API's (a proxy's page), or a server error: try again.

    PTB would log a traceback for every body it cannot parse and put the whole body in its
    error; a proxy's page in the way of every call filled the log. This says what and the
    status, in a few words.
    """

    def __init__(self, kind: str, status: int | None) -> None:
        super().__init__(kind if status is None else f"{kind} (HTTP {status})")
        self.kind = kind
        self.status = status


class AiohttpRequest(BaseRequest):
    """Send PTB's requests over one pooled aiohttp session."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 8,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._pick(read_timeout, "read")
        write = self._pick(write_timeout, "write")
        # aiohttp has no separate write timeout: a request may take its write and read time.
        total = None if read is None or write is None else read + write
        pool, connect = self._pick(pool_timeout, "pool"), self._pick(connect_timeout, "connect")
        timeout = aiohttp.ClientTimeout(
            total=total,
            # aiohttp's `connect` covers waiting for the pool and connecting both.
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | bytes | None = None
        headers = {}
        if request_data is not None and request_data.contains_files:
            data = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                data.add_field(name, value)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                data.add_field(name, content, filename=filename, content_type=mime)
        elif request_data is not None:
            data = request_data.json_payload
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                status, body = response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        # Every answer of the Bot API is a JSON object; anything else came from something in
        # the way, whatever its status, and says nothing about the request itself.
        if body.lstrip()[:1] != b"{":
            raise BadAnswer("not JSON", status)
        if status >= SERVER_ERROR:
            raise BadAnswer("server error", status)
        return status, body

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        """Parse an answer like PTB does, without logging a traceback when it cannot."""
        try:
            parsed: JSONDict = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise BadAnswer("not JSON", None) from None
        return parsed

    def _pick(self, given: ODVInput[float], name: str) -> float | None:
        """The caller's timeout when it gave one, else this request's default."""
        return self._defaults[name] if isinstance(given, DefaultValue) else given
